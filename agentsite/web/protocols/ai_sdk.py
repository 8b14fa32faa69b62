"""The AI SDK UI message stream, v1 (Vercel ``ai`` 5/6, ``useChat`` + ``DefaultChatTransport``).

Every native wire event of a run becomes zero or more UI message chunks, each a strict object
(only the keys ``ai``'s ``uiMessageChunkSchema`` names), sent as ``data: <json>`` and ended by
``data: [DONE]``. One assistant message per run, whose id is the run id, so a resumed stream
(replayed from its ``start`` chunk) rebuilds the same message. Steps are model calls: a
``start-step`` at each ``response.created``, and its ``finish-step`` once the tools it called
have answered, as ``streamText`` orders them. Handoffs are ``data-handoff`` parts, not tool
calls; usage, run id and session id ride as message metadata on ``start`` and ``finish``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from agentsite.errors import AgentSiteError
from agentsite.runs.events import WireEvent
from agentsite.web.protocols.base import parse_arguments, sse_block

UI_MESSAGE_STREAM_HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}
Chunk = dict[str, Any]
_REASONING_DELTAS = {
    "response.reasoning_summary_text.delta",
    "response.reasoning_text.delta",
}
_TEXT_DELTAS = {"response.output_text.delta", "response.refusal.delta"}


class UIMessageStreamEncoder:
    headers = UI_MESSAGE_STREAM_HEADERS

    def __init__(
        self,
        run_id: uuid.UUID,
        session_id: str | None,
        handoff_tools: Iterable[str] = (),
        *,
        continue_after: int = 0,
        denied_calls: Iterable[str] = (),
    ) -> None:
        """``continue_after``: the client already holds the reply up to that event (a run
        resumed after its approvals); earlier events only update what the encoder knows.
        ``denied_calls``: tool calls a person rejected, whose outputs are the rejection."""
        self.run_id = run_id
        self.session_id = session_id
        self.handoff_tools = frozenset(handoff_tools)
        self.continue_after = continue_after
        self.denied_calls = frozenset(denied_calls)
        self._text: str | None = None
        self._reasoning: str | None = None
        self._parts = 0
        self._step = "closed"  # "open", "answered" (waiting for tool outputs), "closed"
        self._tool_inputs: set[str] = set()
        self._handoff_calls: dict[str, str | None] = {}
        self._streamed_messages: set[str] = set()
        self._ended = False
        self._paused = False

    # --- StreamEncoder -------------------------------------------------------------------

    def opening(self) -> bytes:
        return _encode([{"type": "start", "messageId": str(self.run_id), **self._metadata()}])

    def encode(self, seq: int, event: WireEvent) -> bytes:
        if seq <= self.continue_after:
            self.chunks(event)
            return b""
        if self._paused and event.get("type") != "approval_requested":
            # The paused stream finished its step and message; the resumed run goes on.
            self._paused, self._step = False, "closed"
        return _encode(self.chunks(event))

    def failure(self, error: AgentSiteError) -> bytes:
        return _encode(self._end_with_error(error.message))

    def closing(self) -> bytes:
        paused: list[Chunk] = []
        if self._paused and not self._ended:
            self._ended = True
            finish = {"type": "finish", "finishReason": "tool-calls", **self._metadata()}
            paused = [*self._close_step(), finish]
        return _encode(paused) + b"data: [DONE]\n\n"

    # --- wire event → chunks -------------------------------------------------------------

    def chunks(self, event: WireEvent) -> list[Chunk]:
        """The UI message chunks for one wire event (none for most of them)."""
        if self._ended:
            return []
        kind = event.get("type")
        if kind == "raw_response":
            return self._raw(event)
        if kind == "run_item":
            return self._run_item(event)
        if kind == "stream_complete":
            self._ended = True
            usage = _usage(event.get("usage"))
            end = {"agentName": event.get("agent_name"), **usage}
            finish = {"type": "finish", "finishReason": "stop", **self._metadata(end)}
            return [*self._close_step(), finish]
        if kind == "run_cancelled":
            self._ended = True
            reason = f"cancelled by {event.get('cancelled_by') or 'the server'}"
            return [*self._close_step(), {"type": "abort", "reason": reason}]
        if kind == "error":
            return self._end_with_error(str(event.get("message") or "The run failed"))
        if kind == "approval_requested":
            return self._approval_requested(event)
        return []

    def _raw(self, event: WireEvent) -> list[Chunk]:
        kind = event.get("event_type")
        if kind == "response.created":
            closed = self._close_step()
            self._step = "open"
            return [*closed, {"type": "start-step"}]
        if kind in _TEXT_DELTAS:
            return self._text_delta(event.get("item_id"), event.get("delta") or "")
        if kind in _REASONING_DELTAS:
            return self._reasoning_delta(event.get("delta") or "")
        if kind in ("response.output_text.done", "response.content_part.done"):
            return self._close_text()
        if kind == "response.output_item.done":
            return self._close_text() + self._close_reasoning()
        if kind == "response.output_item.added" and event.get("item_type") == "function_call":
            return self._tool_input_start(event)
        if kind == "response.function_call_arguments.delta":
            call_id = event.get("call_id")
            if call_id not in self._tool_inputs:
                return []
            return [
                {
                    "type": "tool-input-delta",
                    "toolCallId": call_id,
                    "inputTextDelta": event.get("delta") or "",
                }
            ]
        if kind == "response.completed":
            self._step = "answered" if self._step == "open" else self._step
            return self._close_text() + self._close_reasoning()
        return []

    def _run_item(self, event: WireEvent) -> list[Chunk]:
        name = event.get("name")
        if name == "tool_called":
            return self._tool_input_available(event)
        if name == "tool_output" and event.get("call_id") is not None:
            if event["call_id"] in self.denied_calls:
                return [{"type": "tool-output-denied", "toolCallId": event["call_id"]}]
            output = {"type": "tool-output-available", "toolCallId": event["call_id"]}
            return [{**output, "output": event.get("output")}]
        if name == "handoff_requested":
            self._handoff_calls[str(event.get("call_id"))] = event.get("reason")
            return []
        if name == "handoff_occured":
            return [self._handoff(event)]
        if name == "message_output_created":
            return self._unstreamed_message(event)
        return []

    # --- parts ---------------------------------------------------------------------------

    def _text_delta(self, item_id: str | None, delta: str) -> list[Chunk]:
        opened: list[Chunk] = self._close_reasoning()
        if self._text is None:
            self._text = item_id or self._part_id("text")
            if item_id:
                self._streamed_messages.add(item_id)
            opened.append({"type": "text-start", "id": self._text})
        return [*opened, {"type": "text-delta", "id": self._text, "delta": delta}]

    def _reasoning_delta(self, delta: str) -> list[Chunk]:
        opened: list[Chunk] = self._close_text()
        if self._reasoning is None:
            self._reasoning = self._part_id("reasoning")
            opened.append({"type": "reasoning-start", "id": self._reasoning})
        return [*opened, {"type": "reasoning-delta", "id": self._reasoning, "delta": delta}]

    def _close_text(self) -> list[Chunk]:
        if self._text is None:
            return []
        closed, self._text = self._text, None
        return [{"type": "text-end", "id": closed}]

    def _close_reasoning(self) -> list[Chunk]:
        if self._reasoning is None:
            return []
        closed, self._reasoning = self._reasoning, None
        return [{"type": "reasoning-end", "id": closed}]

    def _tool_input_start(self, event: WireEvent) -> list[Chunk]:
        call_id, tool_name = event.get("call_id"), event.get("tool_name")
        if not call_id or not tool_name or tool_name in self.handoff_tools:
            return []
        self._tool_inputs.add(call_id)
        closed = self._close_text() + self._close_reasoning()
        return [*closed, {"type": "tool-input-start", "toolCallId": call_id, "toolName": tool_name}]

    def _tool_input_available(self, event: WireEvent) -> list[Chunk]:
        call_id, tool_name = event.get("call_id"), event.get("tool_name")
        if not call_id or not tool_name:
            return []
        self._tool_inputs.add(call_id)
        return [
            {
                "type": "tool-input-available",
                "toolCallId": call_id,
                "toolName": tool_name,
                "input": parse_arguments(event.get("tool_arguments")),
            }
        ]

    def _approval_requested(self, event: WireEvent) -> list[Chunk]:
        """A tool call waits for a person's decision. The run pauses once every such call is
        announced, and its stream ends: ``closing`` finishes the message then."""
        self._paused = True
        chunks = (
            [] if event.get("call_id") in self._tool_inputs else self._tool_input_available(event)
        )
        request = {
            "type": "tool-approval-request",
            "approvalId": str(event.get("approval_id")),
            "toolCallId": str(event.get("call_id")),
        }
        return [*chunks, request]

    def _handoff(self, event: WireEvent) -> Chunk:
        call_id = next(iter(self._handoff_calls), None)
        reason = self._handoff_calls.pop(call_id) if call_id is not None else None
        data = {
            "from": event.get("previous_agent"),
            "to": event.get("target_agent"),
            "reason": reason,
        }
        return {"type": "data-handoff", "id": call_id or self._part_id("handoff"), "data": data}

    def _unstreamed_message(self, event: WireEvent) -> list[Chunk]:
        """A message that arrived whole (a model that does not stream deltas): one text part."""
        message_id, content = event.get("message_id"), event.get("content")
        if message_id in self._streamed_messages or not isinstance(content, str) or not content:
            return []
        part = message_id or self._part_id("text")
        return [
            {"type": "text-start", "id": part},
            {"type": "text-delta", "id": part, "delta": content},
            {"type": "text-end", "id": part},
        ]

    def _close_step(self) -> list[Chunk]:
        closed = self._close_text() + self._close_reasoning()
        if self._step == "closed":
            return closed
        self._step = "closed"
        return [*closed, {"type": "finish-step"}]

    def _end_with_error(self, message: str) -> list[Chunk]:
        self._ended = True
        error = {"type": "error", "errorText": message}
        return [
            *self._close_step(),
            error,
            {"type": "finish", "finishReason": "error", **self._metadata()},
        ]

    def _part_id(self, kind: str) -> str:
        self._parts += 1
        return f"{kind}-{self.run_id.hex[:12]}-{self._parts}"

    def _metadata(self, extra: dict[str, Any] | None = None) -> Chunk:
        metadata = {"runId": str(self.run_id), "sessionId": self.session_id, **(extra or {})}
        return {"messageMetadata": metadata}


def _usage(usage: Any) -> dict[str, Any]:
    """The run's usage in the AI SDK's own names (``LanguageModelUsage``)."""
    if not isinstance(usage, dict):
        return {}
    return {
        "usage": {
            "inputTokens": usage.get("input_tokens", 0),
            "outputTokens": usage.get("output_tokens", 0),
            "totalTokens": usage.get("total_tokens", 0),
            "requests": usage.get("requests", 0),
        }
    }


def _encode(chunks: list[Chunk]) -> bytes:
    return "".join(sse_block(chunk) for chunk in chunks).encode()
