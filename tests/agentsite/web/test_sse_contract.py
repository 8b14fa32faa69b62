"""The SSE stream, parsed from raw bytes, matches the FastAPI app's contract event for event."""

from __future__ import annotations

import uuid

import pytest
from agents.testing import assistant_message, function_call

from agentsite.models import Conversation
from agentsite.web.sse import sse_response
from tests.agentsite.web.contract import assert_event_keys
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)


async def stream(client, path: str, body: dict) -> tuple[object, bytes]:
    response = await client.post(path, body, content_type="application/json")
    raw = b"".join([chunk async for chunk in response.streaming_content])
    return response, raw


async def test_stream_headers_and_framing(client):
    response, raw = await stream(client, "/chat/stream", {"input": "Hello there"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    run_id = response["X-Run-Id"]
    blocks = raw.decode().split("\n\n")[:-1]
    # The retry hint rides in the first event's block: a retry-only block would reach
    # httpx-sse or fetch-event-source applications as an event with empty data.
    assert blocks[0].startswith("retry: 3000\nid: ")
    blocks[0] = blocks[0].removeprefix("retry: 3000\n")
    for seq, block in enumerate(blocks, start=1):
        id_line, data_line = block.split("\n")
        assert id_line == f"id: {run_id}:{seq}"
        assert data_line.startswith("data: {"), block


async def test_text_reply_exact_sequence(client, use_scripted_model):
    use_scripted_model([[assistant_message("Hello Ada", item_id="msg_1")]])
    _, raw = await stream(client, "/chat/stream", {"input": "Hi", "session_id": "seq-1"})
    events = parse_sse(raw)
    for event in events:
        assert_event_keys(event)
    kinds = [(e["type"], e.get("event_type") or e.get("name")) for e in events]
    assert kinds == [
        ("agent_updated", None),
        ("raw_response", "response.created"),
        ("raw_response", "response.in_progress"),
        ("raw_response", "response.output_item.added"),
        ("raw_response", "response.content_part.added"),
        ("raw_response", "response.output_text.delta"),
        ("raw_response", "response.output_text.done"),
        ("raw_response", "response.content_part.done"),
        ("raw_response", "response.output_item.done"),
        ("raw_response", "response.completed"),
        ("run_item", "message_output_created"),
        ("stream_complete", None),
    ]
    assert events[0]["agent_name"] == "Chat"
    assert events[0]["tools_count"] == 0
    delta = events[5]
    assert delta["delta"] == "Hello Ada"
    assert delta["item_id"] == "msg_1"
    assert (delta["content_index"], delta["output_index"]) == (0, 0)
    assert events[6]["text"] == "Hello Ada"
    assert events[10]["role"] == "assistant"
    assert events[10]["message_id"] == "msg_1"
    done = events[-1]
    assert done["final_output"] == "Hello Ada"
    assert done["session_id"] == "seq-1"
    assert done["current_turn"] == 1
    assert done["usage"]["requests"] == 1


async def test_tool_call_events(client, use_scripted_model):
    use_scripted_model(
        [
            [function_call("calculate", {"expression": "6*7"}, call_id="call_1")],
            [assistant_message("It is 42")],
        ]
    )
    _, raw = await stream(client, "/assistant/stream", {"input": "6*7?"})
    events = parse_sse(raw)
    for event in events:
        assert_event_keys(event)
    called = next(e for e in events if e.get("name") == "tool_called")
    output = next(e for e in events if e.get("name") == "tool_output")
    assert called["tool_name"] == "calculate"
    assert called["tool_arguments"] == '{"expression":"6*7"}'
    assert called["call_id"] == output["call_id"] == "call_1"
    assert output["output"] == "42"
    args_delta = next(
        e for e in events if e.get("event_type") == "response.function_call_arguments.delta"
    )
    assert args_delta["call_id"] == "call_1"
    assert events[-1]["type"] == "stream_complete"
    assert events[-1]["final_output"] == "It is 42"
    assert events[-1]["current_turn"] == 2


async def test_handoff_events(client, use_scripted_model):
    use_scripted_model(
        [
            [function_call("transfer_to_math_specialist", {}, call_id="call_h")],
            [assistant_message("Specialist here")],
        ]
    )
    _, raw = await stream(client, "/assistant/stream", {"input": "explain 2+2 step by step"})
    events = parse_sse(raw)
    for event in events:
        assert_event_keys(event)
    requested = next(e for e in events if e.get("name") == "handoff_requested")
    occurred = next(e for e in events if e.get("name") == "handoff_occured")
    assert requested["target_agent"] == "Math Specialist"
    assert occurred["target_agent"] == "Math Specialist"
    assert occurred["previous_agent"] == "Assistant"
    agents = [e["agent_name"] for e in events if e["type"] == "agent_updated"]
    assert agents == ["Assistant", "Math Specialist"]
    assert events[-1]["final_output"] == "Specialist here"


async def test_model_failure_ends_with_error_event(client, use_scripted_model):
    use_scripted_model([RuntimeError("model exploded")])
    _, raw = await stream(client, "/chat/stream", {"input": "Hi", "session_id": "err-1"})
    events = parse_sse(raw)
    assert events[-1]["type"] == "error"
    assert_event_keys(events[-1])
    assert events[-1]["session_id"] == "err-1"
    assert not any(e["type"] == "stream_complete" for e in events)
    conversation = await Conversation.objects.aget(session_id="err-1")
    assert conversation.active_run is None, "a failed run gives its lease back"


async def test_offline_stream_is_word_by_word_and_labelled(client):
    _, raw = await stream(client, "/chat/stream", {"input": "Tell me something"})
    events = parse_sse(raw)
    deltas = [e["delta"] for e in events if e.get("event_type") == "response.output_text.delta"]
    assert len(deltas) > 5
    assert all(len(delta.split()) == 1 for delta in deltas)
    assert "".join(deltas).startswith("[offline model]")
    assert events[0]["model"] == "offline"


async def test_stream_usage_reported(client):
    _, raw = await stream(client, "/chat/stream", {"input": "Count my tokens", "session_id": "u1"})
    usage = parse_sse(raw)[-1]["usage"]
    assert usage["requests"] == 1
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    conversation = await Conversation.objects.aget(session_id="u1")
    assert conversation.total_tokens == usage["total_tokens"]
    assert conversation.requests == 1


async def test_events_already_waiting_go_out_in_one_write():
    """A burst of deltas costs one ASGI message, not one per event; framing is unchanged."""
    run_id = uuid.uuid4()

    async def burst():
        for seq in range(1, 4):
            yield seq, {"type": "raw_response", "delta": f"word{seq}"}

    response = sse_response(burst(), run_id)
    chunks = [chunk async for chunk in response.streaming_content]

    assert chunks[0] == b"retry: 3000\n"
    assert len(chunks) == 2, chunks
    assert [event["delta"] for event in parse_sse(b"".join(chunks))] == ["word1", "word2", "word3"]
    assert chunks[1].decode().split("\n\n")[0].startswith(f"id: {run_id}:1\n")
