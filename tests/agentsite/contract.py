"""The wire contract of DESIGN.md §5 as data: the keys each event kind must carry."""

from __future__ import annotations

from typing import Any

AGENT_UPDATED_KEYS = {
    "type",
    "agent_name",
    "agent_instructions",
    "model",
    "tools_count",
    "handoffs_count",
}
RAW_RESPONSE_KEYS = {"type", "event_type", "sequence_number"}
RAW_KEYS_BY_EVENT_TYPE = {
    "response.output_text.delta": {"delta", "content_index", "item_id", "output_index"},
    "response.created": {"response_id", "status"},
    "response.completed": {"response_id", "status"},
    "response.output_item.added": {"output_index", "item_type"},
    "response.output_item.done": {"output_index", "item_type"},
    "response.function_call_arguments.delta": {"delta", "call_id"},
    "response.output_text.done": {"text", "content_index", "item_id"},
}
RUN_ITEM_KEYS = {"type", "name", "item_type"}
RUN_ITEM_KEYS_BY_NAME = {
    "message_output_created": {"role", "status", "message_id"},
    "tool_called": {"tool_name", "tool_arguments", "call_id"},
    "tool_output": {"output", "call_id"},
    "handoff_requested": {"target_agent"},
    "handoff_occured": {"target_agent", "previous_agent"},
    "reasoning_item_created": {"reasoning_content"},
}
STREAM_COMPLETE_KEYS = {"type", "final_output", "current_turn", "usage", "session_id"}
ERROR_KEYS = {"type", "message", "timestamp", "session_id"}
USAGE_KEYS = {"requests", "input_tokens", "output_tokens", "total_tokens"}
RUN_RESPONSE_KEYS = {"final_output", "success", "error", "usage", "response_id", "session_id"}


def assert_event_keys(event: dict[str, Any]) -> None:
    """Fail if ``event`` lacks a key the contract promises for its kind."""
    kind = event["type"]
    if kind == "agent_updated":
        required = AGENT_UPDATED_KEYS
    elif kind == "raw_response":
        required = RAW_RESPONSE_KEYS | RAW_KEYS_BY_EVENT_TYPE.get(event["event_type"], set())
    elif kind == "run_item":
        required = RUN_ITEM_KEYS | RUN_ITEM_KEYS_BY_NAME.get(event["name"], set())
    elif kind == "stream_complete":
        required = STREAM_COMPLETE_KEYS
        assert set(event["usage"]) >= USAGE_KEYS
    elif kind == "error":
        required = ERROR_KEYS
    else:
        raise AssertionError(f"unknown event type {kind!r}")
    missing = required - set(event)
    assert not missing, f"{kind} event lacks {sorted(missing)}: {event}"
