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
    "response.reasoning_summary_text.delta": {"delta", "reasoning"},
    "response.refusal.delta": {"delta", "refusal"},
    "response.created": {"response_id", "status"},
    "response.completed": {"response_id", "status"},
    "response.output_item.added": {"output_index", "item_type"},
    "response.output_item.done": {"output_index", "item_type"},
    "response.function_call_arguments.delta": {"delta", "function_call", "call_id"},
    "response.content_part.added": {"content_index", "item_id"},
    "response.content_part.done": {"content_index", "item_id"},
    "response.output_text.done": {"text", "content_index", "item_id"},
}
# Keys with a fixed value: the FastAPI app's markers.
RAW_FLAGS_BY_EVENT_TYPE = {
    "response.reasoning_summary_text.delta": {"reasoning": True},
    "response.refusal.delta": {"refusal": True},
    "response.function_call_arguments.delta": {"function_call": True},
}
FUNCTION_CALL_ADDED_KEYS = {"tool_name", "call_id"}
RUN_ITEM_KEYS = {"type", "name", "item_type"}
RUN_ITEM_KEYS_BY_NAME = {
    "message_output_created": {"role", "status", "message_id"},
    "tool_called": {"tool_name", "tool_arguments", "call_id"},
    "tool_output": {"tool_name", "output", "call_id"},
    "handoff_requested": {"target_agent", "reason"},
    "handoff_occured": {"target_agent", "previous_agent"},
    "reasoning_item_created": {"reasoning_content"},
    "mcp_approval_requested": {"tool_name", "server_name"},
    "mcp_list_tools": {"server_name", "tools"},
}
UNKNOWN_EVENT_KEYS = {"type", "event_class", "data"}
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
        event_type = event["event_type"]
        required = RAW_RESPONSE_KEYS | RAW_KEYS_BY_EVENT_TYPE.get(event_type, set())
        if event_type == "response.output_item.added" and event.get("item_type") == "function_call":
            required = required | FUNCTION_CALL_ADDED_KEYS
        for key, value in RAW_FLAGS_BY_EVENT_TYPE.get(event_type, {}).items():
            assert event.get(key) == value, f"{event_type} needs {key}={value!r}: {event}"
    elif kind == "run_item":
        required = RUN_ITEM_KEYS | RUN_ITEM_KEYS_BY_NAME.get(event["name"], set())
    elif kind == "stream_complete":
        required = STREAM_COMPLETE_KEYS
        assert set(event["usage"]) >= USAGE_KEYS
    elif kind == "error":
        required = ERROR_KEYS
    elif kind == "unknown_event":
        required = UNKNOWN_EVENT_KEYS
        assert isinstance(event["data"], str), event
    else:
        raise AssertionError(f"unknown event type {kind!r}")
    missing = required - set(event)
    assert not missing, f"{kind} event lacks {sorted(missing)}: {event}"
