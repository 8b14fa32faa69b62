"""SDK stream events → the wire JSON objects of the compatibility contract (DESIGN.md §5).

One function per event kind. Keys may be added, never renamed or removed: existing clients of
the FastAPI app parse these objects.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypedDict

from agents import Agent
from agents.handoffs import Handoff
from agents.items import (
    HandoffCallItem,
    HandoffOutputItem,
    ItemHelpers,
    MCPApprovalRequestItem,
    MCPListToolsItem,
    MessageOutputItem,
    ReasoningItem,
    ToolCallItem,
    ToolCallOutputItem,
)
from agents.models.fake_id import FAKE_RESPONSES_ID
from agents.stream_events import (
    AgentUpdatedStreamEvent,
    RawResponsesStreamEvent,
    RunItemStreamEvent,
    StreamEvent,
)
from agents.usage import Usage
from pydantic import BaseModel

WireEvent = dict[str, Any]

# Deltas the FastAPI app flagged with a marker key, so a client can tell them from answer text.
_FLAGGED_DELTAS = {
    "response.reasoning_summary_text.delta": "reasoning",
    "response.reasoning_text.delta": "reasoning",
    "response.refusal.delta": "refusal",
}
_PLAIN_DELTAS = {"response.audio.transcript.delta"}
DYNAMIC_INSTRUCTIONS = "Dynamic instructions"


class EventEncoder:
    """Encodes one run's events; keeps the little state the wire format needs across events
    (function-call item ids → call ids, call ids → tool names, handoff tool names → target
    agents)."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self._call_ids: dict[str, str] = {}
        self._tool_names: dict[str, str] = {}
        self._handoff_targets: dict[str, str] = {}

    def encode(self, event: StreamEvent) -> WireEvent:
        if isinstance(event, RawResponsesStreamEvent):
            return self.raw_response(event)
        if isinstance(event, RunItemStreamEvent):
            return self.run_item(event)
        if isinstance(event, AgentUpdatedStreamEvent):
            return self.agent_updated(event.new_agent)
        # A newer SDK may stream kinds this encoder does not know: sent, never dropped.
        return {
            "type": "unknown_event",
            "event_class": type(event).__name__,
            "data": str(event),
        }

    def agent_updated(self, agent: Agent[Any]) -> WireEvent:
        for target in agent.handoffs:
            if isinstance(target, Handoff):
                self._handoff_targets[target.tool_name] = target.agent_name
            else:
                self._handoff_targets[Handoff.default_tool_name(target)] = target.name
        return {
            "type": "agent_updated",
            "agent_name": agent.name,
            "agent_instructions": instructions_text(agent),
            "model": agent.model if isinstance(agent.model, str) else self.model_name,
            "tools_count": len(agent.tools),
            "handoffs_count": len(agent.handoffs),
        }

    def raw_response(self, event: RawResponsesStreamEvent) -> WireEvent:
        data: Any = event.data
        kind = data.type
        wire: WireEvent = {
            "type": "raw_response",
            "event_type": kind,
            "sequence_number": getattr(data, "sequence_number", None),
        }
        if kind == "response.output_text.delta":
            wire.update(
                delta=data.delta,
                content_index=data.content_index,
                item_id=real_id(data.item_id),
                output_index=data.output_index,
            )
        elif kind in ("response.created", "response.completed"):
            wire.update(response_id=real_id(data.response.id), status=data.response.status)
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = data.item
            wire.update(output_index=data.output_index, item_type=item.type)
            if item.type == "function_call":
                self._call_ids[item.id or item.call_id] = item.call_id
                self._tool_names[item.call_id] = item.name
                # ``name`` was this server's own key before ``tool_name``; kept for its clients.
                wire.update(tool_name=item.name, call_id=item.call_id, name=item.name)
        elif kind == "response.function_call_arguments.delta":
            wire.update(
                delta=data.delta,
                function_call=True,
                call_id=self._call_ids.get(data.item_id, data.item_id),
                item_id=data.item_id,
            )
        elif kind in ("response.content_part.added", "response.content_part.done"):
            wire.update(content_index=data.content_index, item_id=real_id(data.item_id))
        elif kind == "response.output_text.done":
            wire.update(
                text=data.text, content_index=data.content_index, item_id=real_id(data.item_id)
            )
        elif kind in _FLAGGED_DELTAS:
            wire.update({"delta": data.delta, _FLAGGED_DELTAS[kind]: True})
        elif kind in _PLAIN_DELTAS:
            wire.update(delta=data.delta)
        return wire

    def run_item(self, event: RunItemStreamEvent) -> WireEvent:
        item = event.item
        raw: Any = item.raw_item
        wire: WireEvent = {"type": "run_item", "name": event.name, "item_type": item.type}
        if isinstance(item, MessageOutputItem):
            wire.update(
                role=raw.role,
                status=raw.status,
                message_id=real_id(raw.id),
                content=ItemHelpers.text_message_output(item),
            )
        elif isinstance(item, HandoffCallItem):
            wire.update(
                target_agent=self._handoff_targets.get(raw.name, raw.name),
                reason=_handoff_reason(raw.arguments),
                previous_agent=item.agent.name,
                call_id=raw.call_id,
            )
        elif isinstance(item, HandoffOutputItem):
            wire.update(target_agent=item.target_agent.name, previous_agent=item.source_agent.name)
        elif isinstance(item, ToolCallItem):
            call_id = item.call_id
            tool_name = item.tool_name or _attr(raw, "type")
            if call_id is not None and tool_name is not None:
                self._tool_names[call_id] = tool_name
            wire.update(
                tool_name=tool_name, tool_arguments=_attr(raw, "arguments"), call_id=call_id
            )
        elif isinstance(item, ToolCallOutputItem):
            call_id = item.call_id
            wire.update(
                tool_name=self._tool_names.get(call_id or ""),
                output=jsonable(item.output),
                call_id=call_id,
            )
        elif isinstance(item, ReasoningItem):
            summary = getattr(raw, "summary", None) or []
            wire.update(reasoning_content="\n".join(part.text for part in summary))
        elif isinstance(item, MCPApprovalRequestItem):
            wire.update(
                tool_name=raw.name,
                server_name=raw.server_label,
                arguments=raw.arguments,
                request_id=raw.id,
            )
        elif isinstance(item, MCPListToolsItem):
            wire.update(server_name=raw.server_label, tools=[tool.name for tool in raw.tools])
        return wire


def instructions_text(agent: Agent[Any]) -> str | None:
    """An agent's instructions as the FastAPI app showed them: the text, or a placeholder for
    instructions computed per run (they depend on a run context that does not exist here)."""
    if callable(agent.instructions):
        return DYNAMIC_INSTRUCTIONS
    return agent.instructions


def _handoff_reason(arguments: str) -> str | None:
    """The reason a model gave for a handoff, when the handoff's input asks for one."""
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return None
    reason = parsed.get("reason") if isinstance(parsed, dict) else None
    return reason if isinstance(reason, str) else None


def stream_complete(
    final_output: Any, current_turn: int, usage: Usage, session_id: str | None, **extra: Any
) -> WireEvent:
    return {
        "type": "stream_complete",
        "final_output": jsonable(final_output),
        "current_turn": current_turn,
        "usage": usage_dict(usage),
        "session_id": session_id,
        **extra,
    }


def error_event(message: str, session_id: str | None, **extra: Any) -> WireEvent:
    return {
        "type": "error",
        "message": message,
        "timestamp": datetime.now(UTC).isoformat(),
        "session_id": session_id,
        **extra,
    }


def real_id(value: str | None) -> str | None:
    """The SDK fills ids the Chat Completions API lacks with a placeholder; clients get null."""
    return None if value == FAKE_RESPONSES_ID else value


class UsageCounts(TypedDict):
    requests: int
    input_tokens: int
    output_tokens: int
    total_tokens: int


def usage_dict(usage: Usage) -> UsageCounts:
    return {
        "requests": usage.requests,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def _attr(raw: Any, name: str) -> Any:
    return raw.get(name) if isinstance(raw, dict) else getattr(raw, name, None)


def jsonable(value: Any) -> Any:
    """Final outputs and tool outputs as JSON values: models dumped, the rest as text."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        try:
            json.dumps(value)
            return value
        except TypeError:
            return str(value)
    return str(value)
