"""The AI SDK UI message stream encoder, fed wire events of every kind it maps."""

from __future__ import annotations

import json
import uuid
from typing import Any

from agentsite.errors import UpstreamError
from agentsite.web.protocols.ai_sdk import UIMessageStreamEncoder

RUN = uuid.UUID("12345678-1234-5678-1234-567812345678")
# The keys ``ai``'s uiMessageChunkSchema (6.x) names per chunk type; the Node tests check the
# real schema (tests/js/ai_sdk_chat.mjs), this table keeps the fast tests honest.
ALLOWED = {
    "start": {"type", "messageId", "messageMetadata"},
    "finish": {"type", "finishReason", "messageMetadata"},
    "abort": {"type", "reason"},
    "error": {"type", "errorText"},
    "start-step": {"type"},
    "finish-step": {"type"},
    "text-start": {"type", "id", "providerMetadata"},
    "text-delta": {"type", "id", "delta", "providerMetadata"},
    "text-end": {"type", "id", "providerMetadata"},
    "reasoning-start": {"type", "id", "providerMetadata"},
    "reasoning-delta": {"type", "id", "delta", "providerMetadata"},
    "reasoning-end": {"type", "id", "providerMetadata"},
    "tool-input-start": {"type", "toolCallId", "toolName", "dynamic", "title"},
    "tool-input-delta": {"type", "toolCallId", "inputTextDelta"},
    "tool-input-available": {"type", "toolCallId", "toolName", "input", "dynamic", "title"},
    "tool-output-available": {"type", "toolCallId", "output", "dynamic", "preliminary"},
    "tool-approval-request": {"type", "approvalId", "toolCallId"},
    "tool-output-denied": {"type", "toolCallId"},
    "data-handoff": {"type", "id", "data", "transient"},
}


def raw(kind: str, **keys: Any) -> dict[str, Any]:
    return {"type": "raw_response", "event_type": kind, "sequence_number": 0, **keys}


def item(name: str, **keys: Any) -> dict[str, Any]:
    return {"type": "run_item", "name": name, "item_type": "x", **keys}


def chunks_of(events: list[dict[str, Any]], handoffs: tuple[str, ...] = ()) -> list[dict]:
    encoder = UIMessageStreamEncoder(RUN, "s1", handoffs)
    chunks = []
    for seq, event in enumerate(events, start=1):
        chunks += decode(encoder.encode(seq, event))
    for chunk in chunks:
        assert set(chunk) <= ALLOWED[chunk["type"]], chunk
    return chunks


def decode(data: bytes) -> list[dict[str, Any]]:
    blocks = [block for block in data.decode().split("\n\n") if block]
    assert all(block.startswith("data: ") and "\n" not in block for block in blocks), blocks
    return [json.loads(block.removeprefix("data: ")) for block in blocks]


def test_opening_and_closing():
    encoder = UIMessageStreamEncoder(RUN, "s1")
    assert decode(encoder.opening()) == [
        {
            "type": "start",
            "messageId": str(RUN),
            "messageMetadata": {"runId": str(RUN), "sessionId": "s1"},
        }
    ]
    assert encoder.closing() == b"data: [DONE]\n\n"
    assert encoder.headers == {"x-vercel-ai-ui-message-stream": "v1"}


def test_reasoning_then_text_then_finish_with_usage():
    usage = {"requests": 1, "input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
    chunks = chunks_of(
        [
            raw("response.created", response_id="r", status="in_progress"),
            raw("response.reasoning_summary_text.delta", delta="Thinking", reasoning=True),
            raw("response.output_item.done", output_index=0, item_type="reasoning"),
            raw(
                "response.output_text.delta",
                delta="Hi",
                item_id="m1",
                content_index=0,
                output_index=1,
            ),
            raw("response.output_text.done", text="Hi", item_id="m1", content_index=0),
            raw("response.completed", response_id="r", status="completed"),
            item("message_output_created", message_id="m1", content="Hi", role="assistant"),
            {"type": "stream_complete", "final_output": "Hi", "usage": usage, "agent_name": "A"},
        ]
    )
    kinds = [chunk["type"] for chunk in chunks]
    assert kinds == [
        "start-step",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-end",
        "text-start",
        "text-delta",
        "text-end",
        "finish-step",
        "finish",
    ]
    assert chunks[-1]["messageMetadata"]["usage"] == {
        "inputTokens": 3,
        "outputTokens": 4,
        "totalTokens": 7,
        "requests": 1,
    }


def test_tool_call_and_handoff():
    chunks = chunks_of(
        [
            raw("response.created"),
            raw(
                "response.output_item.added",
                item_type="function_call",
                tool_name="transfer_to_x",
                call_id="h1",
            ),
            raw("response.function_call_arguments.delta", delta="{}", call_id="h1"),
            raw(
                "response.output_item.added",
                item_type="function_call",
                tool_name="calc",
                call_id="c1",
            ),
            raw("response.function_call_arguments.delta", delta='{"e": 1}', call_id="c1"),
            raw("response.completed"),
            item(
                "handoff_requested",
                target_agent="X",
                previous_agent="A",
                reason="why",
                call_id="h1",
            ),
            item("tool_called", tool_name="calc", tool_arguments='{"e": 1}', call_id="c1"),
            item("tool_output", tool_name="calc", output=2, call_id="c1"),
            item("handoff_occured", target_agent="X", previous_agent="A"),
        ],
        handoffs=("transfer_to_x",),
    )
    assert [chunk["type"] for chunk in chunks] == [
        "start-step",
        "tool-input-start",
        "tool-input-delta",
        "tool-input-available",
        "tool-output-available",
        "data-handoff",
    ]
    assert chunks[3]["input"] == {"e": 1} and chunks[4]["output"] == 2
    assert chunks[5] == {
        "type": "data-handoff",
        "id": "h1",
        "data": {"from": "A", "to": "X", "reason": "why"},
    }


def test_error_cancel_and_failure_end_the_message():
    errored = chunks_of([raw("response.created"), {"type": "error", "message": "boom"}])
    assert errored[-2:] == [
        {"type": "error", "errorText": "boom"},
        {
            "type": "finish",
            "finishReason": "error",
            "messageMetadata": {"runId": str(RUN), "sessionId": "s1"},
        },
    ]
    cancelled = chunks_of(
        [
            raw("response.output_text.delta", delta="a", item_id="m"),
            {"type": "run_cancelled", "cancelled_by": "key:1"},
        ]
    )
    assert [chunk["type"] for chunk in cancelled] == [
        "text-start",
        "text-delta",
        "text-end",
        "abort",
    ]
    assert cancelled[-1]["reason"] == "cancelled by key:1"
    failed = decode(UIMessageStreamEncoder(RUN, None).failure(UpstreamError("down")))
    assert [chunk["type"] for chunk in failed] == ["error", "finish"]


def test_whole_message_without_deltas_is_one_text_part():
    chunks = chunks_of([item("message_output_created", message_id="m9", content="Whole")])
    assert [chunk["type"] for chunk in chunks] == ["text-start", "text-delta", "text-end"]
    assert chunks[1]["delta"] == "Whole"


def approval(approval_id: str, call_id: str) -> dict[str, Any]:
    return {
        "type": "approval_requested",
        "approval_id": approval_id,
        "tool_name": "delete",
        "tool_arguments": '{"id": 3}',
        "call_id": call_id,
        "run_id": str(RUN),
    }


def test_approval_requests_then_the_paused_message_finishes():
    encoder = UIMessageStreamEncoder(RUN, "s1")
    events = [raw("response.created"), approval("ap1", "c3"), approval("ap2", "c4")]
    data = b"".join(encoder.encode(seq, e) for seq, e in enumerate(events, start=1))
    closing = encoder.closing()
    assert closing.endswith(b"data: [DONE]\n\n")
    chunks = decode(data + closing.removesuffix(b"data: [DONE]\n\n"))
    assert [chunk["type"] for chunk in chunks] == [
        "start-step",
        "tool-input-available",
        "tool-approval-request",
        "tool-input-available",
        "tool-approval-request",
        "finish-step",
        "finish",
    ]
    assert chunks[2] == {"type": "tool-approval-request", "approvalId": "ap1", "toolCallId": "c3"}
    assert chunks[-1]["finishReason"] == "tool-calls"


def test_a_resumed_run_continues_the_paused_message():
    paused = [raw("response.created"), approval("ap1", "c3"), approval("ap2", "c4")]
    resumed = [
        item("tool_output", output="sent", call_id="c3"),
        item("tool_output", output="Rejected: not today", call_id="c4"),
        raw("response.created"),
        raw("response.output_text.delta", delta="Done.", item_id="m2"),
        {"type": "stream_complete", "usage": {}},
    ]
    encoder = UIMessageStreamEncoder(RUN, "s1", continue_after=3, denied_calls={"c4"})
    events = paused + resumed
    data = b"".join(encoder.encode(seq, e) for seq, e in enumerate(events, start=1))
    chunks = decode(data + encoder.closing().removesuffix(b"data: [DONE]\n\n"))
    assert [chunk["type"] for chunk in chunks] == [
        "tool-output-available",
        "tool-output-denied",
        "start-step",
        "text-start",
        "text-delta",
        "text-end",
        "finish-step",
        "finish",
    ]
