"""AG-UI (``@ag-ui/core`` 1.0 events, read by ``@ag-ui/client``'s ``HttpAgent``).

A run answers ``RUN_STARTED``, then (when the thread has stored history) a ``MESSAGES_SNAPSHOT``,
then the run's messages, reasoning and tool calls as AG-UI events, and ``RUN_FINISHED`` (outcome
``success``, ``cancelled``, or ``interrupt`` for a tool call awaiting approval) or ``RUN_ERROR``.

Resume works as on the native stream: the events of wire event ``seq`` end with an
``id: <run_id>:<seq>`` line, and a request carrying ``Last-Event-ID`` gets the rest of the run.
AG-UI clients check that a stream starts with ``RUN_STARTED`` and that content belongs to an
open message, so a resumed stream starts with ``RUN_STARTED`` again and re-opens whatever was
open at the resume point (the encoder replays the run's earlier events silently to know it);
``HttpAgent`` appends the rest to the message it already holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from agentsite.errors import AgentSiteError
from agentsite.runs.events import WireEvent
from agentsite.web.protocols.base import output_text, sse_block

Event = dict[str, Any]
_REASONING_DELTAS = {
    "response.reasoning_summary_text.delta",
    "response.reasoning_text.delta",
}
_TEXT_DELTAS = {"response.output_text.delta", "response.refusal.delta"}


class AgUiEncoder:
    headers: dict[str, str] = {}

    def __init__(
        self,
        *,
        thread_id: str,
        client_run_id: str,
        run_id: uuid.UUID,
        model: str = "",
        handoff_tools: Iterable[str] = (),
        snapshot: list[dict[str, Any]] | None = None,
        resume_after: int = 0,
    ) -> None:
        self.thread_id = thread_id
        self.client_run_id = client_run_id
        self.run_id = run_id
        self.model = model
        self.handoff_tools = frozenset(handoff_tools)
        self.snapshot = snapshot
        self.resume_after = resume_after
        self._text: str | None = None
        self._reasoning: str | None = None
        self._tool_calls: dict[str, str] = {}  # open tool call id → tool name
        self._closed_calls: set[str] = set()
        self._handoff_calls: dict[str, str | None] = {}
        self._streamed_messages: set[str] = set()
        self._parts = 0
        self._interrupts: list[Event] = []
        self._last_seq = resume_after

    # --- StreamEncoder -------------------------------------------------------------------

    def opening(self) -> bytes:
        events: list[Event] = [self._run_event("RUN_STARTED")]
        if self.snapshot and not self.resume_after:
            events.append({"type": "MESSAGES_SNAPSHOT", "messages": self.snapshot})
        return _encode(events, f"{self.run_id}:{self.resume_after}")

    def encode(self, seq: int, event: WireEvent) -> bytes:
        self._last_seq = seq
        if seq <= self.resume_after:
            self.events(event)  # only to know what is open at the resume point
            return b""
        reopened = self._reopen() if seq == self.resume_after + 1 and self.resume_after else []
        if event.get("type") != "approval_requested":
            # Interrupts a stream goes on past were answered (a run resumed after approvals).
            self._interrupts = []
        return _encode([*reopened, *self.events(event)], f"{self.run_id}:{seq}")

    def failure(self, error: AgentSiteError) -> bytes:
        return _encode([_run_error(error.message, error.code)], None)

    def closing(self) -> bytes:
        """A run paused for approvals finishes with an interrupt per call it waits on."""
        if not self._interrupts:
            return b""
        outcome = {"type": "interrupt", "interrupts": self._interrupts}
        self._interrupts = []
        finished = self._run_event("RUN_FINISHED", outcome=outcome)
        return _encode([*self._close_all(), finished], f"{self.run_id}:{self._last_seq}")

    # --- wire event → AG-UI events -------------------------------------------------------

    def events(self, event: WireEvent) -> list[Event]:
        kind = event.get("type")
        if kind == "raw_response":
            return self._raw(event)
        if kind == "run_item":
            return self._run_item(event)
        if kind == "stream_complete":
            finished = self._run_event("RUN_FINISHED", outcome={"type": "success"})
            result = event.get("final_output")
            if result is not None:
                finished["result"] = result
            usage = _usage(event.get("usage"), self.model)
            return [*self._close_all(), {**finished, **usage}]
        if kind == "run_cancelled":
            cancelled = self._run_event("RUN_FINISHED", outcome={"type": "cancelled"})
            return [*self._close_all(), cancelled]
        if kind == "error":
            message = str(event.get("message") or "The run failed")
            return [*self._close_all(), _run_error(message, event.get("code"))]
        if kind == "approval_requested":
            self._interrupts.append(_interrupt(event))
            return self._close_all()
        return []

    def _raw(self, event: WireEvent) -> list[Event]:
        kind = event.get("event_type")
        if kind in _TEXT_DELTAS:
            return self._text_delta(event.get("item_id"), event.get("delta") or "")
        if kind in _REASONING_DELTAS:
            return self._reasoning_delta(event.get("delta") or "")
        if kind in ("response.output_text.done", "response.content_part.done"):
            return self._close_text()
        if kind == "response.output_item.added" and event.get("item_type") == "function_call":
            return self._tool_call_start(event.get("call_id"), event.get("tool_name"))
        if kind == "response.function_call_arguments.delta":
            call_id = event.get("call_id")
            if call_id not in self._tool_calls:
                return []
            return [
                {"type": "TOOL_CALL_ARGS", "toolCallId": call_id, "delta": event.get("delta") or ""}
            ]
        if kind == "response.output_item.done":
            if event.get("item_type") == "function_call":
                return self._tool_call_end(event.get("call_id"))
            return self._close_text() + self._close_reasoning()
        if kind == "response.completed":
            return self._close_text() + self._close_reasoning()
        return []

    def _run_item(self, event: WireEvent) -> list[Event]:
        name, call_id = event.get("name"), event.get("call_id")
        if name == "tool_called" and call_id:
            if call_id in self._closed_calls or call_id in self._tool_calls:
                return self._tool_call_end(call_id)
            started = self._tool_call_start(call_id, event.get("tool_name"))
            args = event.get("tool_arguments")
            if started and isinstance(args, str) and args:
                started.append({"type": "TOOL_CALL_ARGS", "toolCallId": call_id, "delta": args})
            return started + self._tool_call_end(call_id)
        if name == "tool_output" and call_id:
            return [
                {
                    "type": "TOOL_CALL_RESULT",
                    "messageId": self._part_id("result"),
                    "toolCallId": call_id,
                    "content": output_text(event.get("output")),
                    "role": "tool",
                }
            ]
        if name == "handoff_requested":
            self._handoff_calls[str(call_id)] = event.get("reason")
            return []
        if name == "handoff_occured":
            return [*self._close_all(), self._handoff(event)]
        if name == "message_output_created":
            return self._unstreamed_message(event)
        return []

    # --- messages, reasoning, tool calls -------------------------------------------------

    def _text_delta(self, item_id: str | None, delta: str) -> list[Event]:
        opened: list[Event] = self._close_reasoning()
        if self._text is None:
            # The run's own ids: a model's item ids need not be unique across runs (the
            # offline model counts from 1 in each process), and AG-UI clients append content
            # to the message an id names.
            self._text = self._part_id("msg")
            if item_id:
                self._streamed_messages.add(item_id)
            opened.append(
                {"type": "TEXT_MESSAGE_START", "messageId": self._text, "role": "assistant"}
            )
        return [*opened, {"type": "TEXT_MESSAGE_CONTENT", "messageId": self._text, "delta": delta}]

    def _reasoning_delta(self, delta: str) -> list[Event]:
        opened: list[Event] = self._close_text()
        if self._reasoning is None:
            self._reasoning = self._part_id("reasoning")
            opened += _reasoning_start(self._reasoning)
        content = {"type": "REASONING_MESSAGE_CONTENT", "messageId": self._reasoning}
        return [*opened, {**content, "delta": delta}]

    def _close_text(self) -> list[Event]:
        if self._text is None:
            return []
        closed, self._text = self._text, None
        return [{"type": "TEXT_MESSAGE_END", "messageId": closed}]

    def _close_reasoning(self) -> list[Event]:
        if self._reasoning is None:
            return []
        closed, self._reasoning = self._reasoning, None
        return [
            {"type": "REASONING_MESSAGE_END", "messageId": closed},
            {"type": "REASONING_END", "messageId": closed},
        ]

    def _tool_call_start(self, call_id: str | None, tool_name: str | None) -> list[Event]:
        if not call_id or not tool_name or tool_name in self.handoff_tools:
            return []
        if call_id in self._tool_calls or call_id in self._closed_calls:
            return []
        self._tool_calls[call_id] = tool_name
        closed = self._close_text() + self._close_reasoning()
        start = {"type": "TOOL_CALL_START", "toolCallId": call_id, "toolCallName": tool_name}
        return [*closed, start]

    def _tool_call_end(self, call_id: str | None) -> list[Event]:
        if call_id not in self._tool_calls:
            return []
        del self._tool_calls[call_id]
        self._closed_calls.add(call_id)
        return [{"type": "TOOL_CALL_END", "toolCallId": call_id}]

    def _close_all(self) -> list[Event]:
        ends = [
            ended for call_id in list(self._tool_calls) for ended in self._tool_call_end(call_id)
        ]
        return self._close_text() + self._close_reasoning() + ends

    def _reopen(self) -> list[Event]:
        """What was open at the resume point, opened again for the new stream's client."""
        events: list[Event] = []
        if self._text is not None:
            events.append(
                {"type": "TEXT_MESSAGE_START", "messageId": self._text, "role": "assistant"}
            )
        if self._reasoning is not None:
            events += _reasoning_start(self._reasoning)
        for call_id, tool_name in self._tool_calls.items():
            events.append(
                {"type": "TOOL_CALL_START", "toolCallId": call_id, "toolCallName": tool_name}
            )
        return events

    def _handoff(self, event: WireEvent) -> Event:
        call_id = next(iter(self._handoff_calls), None)
        reason = self._handoff_calls.pop(call_id) if call_id is not None else None
        value = {
            "from": event.get("previous_agent"),
            "to": event.get("target_agent"),
            "reason": reason,
        }
        return {"type": "CUSTOM", "name": "handoff", "value": value}

    def _unstreamed_message(self, event: WireEvent) -> list[Event]:
        message_id, content = event.get("message_id"), event.get("content")
        if message_id in self._streamed_messages or not isinstance(content, str) or not content:
            return []
        message = self._part_id("msg")
        return [
            {"type": "TEXT_MESSAGE_START", "messageId": message, "role": "assistant"},
            {"type": "TEXT_MESSAGE_CONTENT", "messageId": message, "delta": content},
            {"type": "TEXT_MESSAGE_END", "messageId": message},
        ]

    def _run_event(self, kind: str, **extra: Any) -> Event:
        return {"type": kind, "threadId": self.thread_id, "runId": self.client_run_id, **extra}

    def _part_id(self, kind: str) -> str:
        self._parts += 1
        return f"{kind}-{self.run_id.hex[:12]}-{self._parts}"


def _interrupt(event: WireEvent) -> Event:
    """A tool call awaiting a person's decision, as the interrupt the client answers with a
    ``resume[]`` entry on its next run."""
    interrupt = {
        "id": str(event.get("approval_id")),
        "reason": "tool_approval",
        "message": f"Approve the call of {event.get('tool_name')}?",
    }
    if event.get("call_id"):
        interrupt["toolCallId"] = str(event["call_id"])
    if isinstance(event.get("expires_at"), str):
        interrupt["expiresAt"] = event["expires_at"]  # a client refuses to answer it later
    return interrupt


def _reasoning_start(message_id: str) -> list[Event]:
    return [
        {"type": "REASONING_START", "messageId": message_id},
        {"type": "REASONING_MESSAGE_START", "messageId": message_id, "role": "reasoning"},
    ]


def _run_error(message: str, code: Any) -> Event:
    error: Event = {"type": "RUN_ERROR", "message": message}
    if isinstance(code, str) and code:
        error["code"] = code
    return error


def _usage(usage: Any, model: str) -> Event:
    if not isinstance(usage, dict):
        return {}
    entry = {
        "inputTokens": int(usage.get("input_tokens", 0)),
        "outputTokens": int(usage.get("output_tokens", 0)),
        "totalTokens": int(usage.get("total_tokens", 0)),
    }
    return {"usage": [{"model": model, **entry} if model else entry]}


def _encode(events: list[Event], event_id: str | None) -> bytes:
    """The events, the last one with the ``id:`` line: a client that saw it has them all."""
    if not events:
        return b""
    blocks = [sse_block(event) for event in events[:-1]]
    blocks.append(sse_block(events[-1], event_id))
    return "".join(blocks).encode()
