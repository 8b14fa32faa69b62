"""The AG-UI encoder, fed wire events of every kind it maps, and its resume."""

from __future__ import annotations

import json
import uuid
from typing import Any

from agentsite.errors import UpstreamError
from agentsite.web.protocols.ag_ui import AgUiEncoder
from agentsite.web.protocols.ag_ui_history import snapshot_messages
from tests.agentsite.web.protocols.test_ai_sdk import item, raw

RUN = uuid.UUID("12345678-1234-5678-1234-567812345678")
STORY = [
    raw("response.created"),
    raw("response.reasoning_summary_text.delta", delta="Hmm", reasoning=True),
    raw("response.output_text.delta", delta="Once ", item_id="m1"),
    raw("response.output_text.delta", delta="upon ", item_id="m1"),
    raw("response.output_text.delta", delta="a time.", item_id="m1"),
    raw("response.output_text.done", text="Once upon a time.", item_id="m1"),
    {"type": "stream_complete", "final_output": "Once upon a time.", "usage": {"total_tokens": 5}},
]


def encoder(**overrides: Any) -> AgUiEncoder:
    return AgUiEncoder(thread_id="t1", client_run_id="r1", run_id=RUN, model="m", **overrides)


def decode(data: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """(id, event) per SSE block."""
    found = []
    for block in data.decode().split("\n\n"):
        if not block:
            continue
        lines = block.split("\n")
        ids = [line.removeprefix("id: ") for line in lines if line.startswith("id: ")]
        data_lines = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
        assert len(data_lines) == 1, block
        found.append((ids[0] if ids else None, json.loads(data_lines[0])))
    return found


def stream(enc: AgUiEncoder, events: list[dict[str, Any]]) -> list[tuple[str | None, dict]]:
    data = enc.opening() + b"".join(enc.encode(seq, e) for seq, e in enumerate(events, start=1))
    return decode(data)


def test_a_run_from_start_to_finish():
    sent = stream(encoder(), STORY)
    kinds = [event["type"] for _, event in sent]
    assert kinds == [
        "RUN_STARTED",
        "REASONING_START",
        "REASONING_MESSAGE_START",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_END",
        "REASONING_END",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    assert sent[0] == (f"{RUN}:0", {"type": "RUN_STARTED", "threadId": "t1", "runId": "r1"})
    # The last event of each wire event's group carries its id; the others inherit the last.
    assert [event_id for event_id, _ in sent][-2:] == [f"{RUN}:6", f"{RUN}:7"]
    finished = sent[-1][1]
    assert finished["outcome"] == {"type": "success"}
    assert finished["result"] == "Once upon a time."
    assert finished["usage"] == [
        {"model": "m", "inputTokens": 0, "outputTokens": 0, "totalTokens": 5}
    ]


def test_resume_reopens_what_was_open_and_continues():
    full = stream(encoder(), STORY)
    resumed = stream(encoder(resume_after=3), STORY)
    assert resumed[0] == (f"{RUN}:3", {"type": "RUN_STARTED", "threadId": "t1", "runId": "r1"})
    message_id = next(e["messageId"] for _, e in full if e["type"] == "TEXT_MESSAGE_START")
    assert resumed[1][1] == {
        "type": "TEXT_MESSAGE_START",
        "messageId": message_id,
        "role": "assistant",
    }
    deltas = [e["delta"] for _, e in resumed if e["type"] == "TEXT_MESSAGE_CONTENT"]
    assert deltas == ["upon ", "a time."]
    assert [event_id for event_id, _ in resumed][-1] == f"{RUN}:7"


def test_snapshot_only_for_a_fresh_run():
    snapshot = [{"id": "item-0", "role": "user", "content": "hi"}]
    assert [e["type"] for _, e in decode(encoder(snapshot=snapshot).opening())] == [
        "RUN_STARTED",
        "MESSAGES_SNAPSHOT",
    ]
    assert len(decode(encoder(snapshot=snapshot, resume_after=2).opening())) == 1


def test_tools_handoff_error_cancel_and_interrupt():
    sent = stream(
        encoder(handoff_tools=("transfer_to_x",)),
        [
            raw(
                "response.output_item.added",
                item_type="function_call",
                tool_name="transfer_to_x",
                call_id="h",
            ),
            raw(
                "response.output_item.added",
                item_type="function_call",
                tool_name="calc",
                call_id="c",
            ),
            raw("response.function_call_arguments.delta", delta="{}", call_id="c"),
            raw("response.output_item.done", item_type="function_call", call_id="c"),
            item("handoff_requested", call_id="h", reason=None),
            item("tool_called", tool_name="calc", tool_arguments="{}", call_id="c"),
            item("tool_output", output={"v": 1}, call_id="c"),
            item("handoff_occured", target_agent="X", previous_agent="A"),
            {"type": "run_cancelled"},
        ],
    )
    kinds = [event["type"] for _, event in sent]
    assert kinds == [
        "RUN_STARTED",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "TOOL_CALL_RESULT",
        "CUSTOM",
        "RUN_FINISHED",
    ]
    assert sent[4][1]["content"] == '{"v":1}'
    assert sent[5][1]["value"] == {"from": "A", "to": "X", "reason": None}
    assert sent[-1][1]["outcome"] == {"type": "cancelled"}
    error = stream(encoder(), [{"type": "error", "message": "no", "code": "provider_auth"}])
    assert error[-1][1] == {"type": "RUN_ERROR", "message": "no", "code": "provider_auth"}
    assert decode(encoder().failure(UpstreamError("down")))[0][1]["type"] == "RUN_ERROR"
    paused = encoder()
    approvals = [
        {"type": "approval_requested", "approval_id": a, "tool_name": "t", "call_id": c}
        for a, c in (("a1", "c1"), ("a2", "c2"))
    ]
    assert stream(paused, approvals)[-1][1]["type"] == "RUN_STARTED"
    last_id, interrupted = decode(paused.closing())[-1]
    assert last_id == f"{RUN}:2"
    assert interrupted["outcome"]["type"] == "interrupt"
    interrupts = interrupted["outcome"]["interrupts"]
    assert [(i["id"], i["toolCallId"]) for i in interrupts] == [("a1", "c1"), ("a2", "c2")]


def test_snapshot_messages_of_stored_items():
    items = [
        {"role": "user", "content": "6*7?"},
        {"type": "function_call", "call_id": "c1", "name": "calc", "arguments": "{}", "id": "fc"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
        {
            "type": "message",
            "role": "assistant",
            "id": "m",
            "content": [{"type": "output_text", "text": "42"}],
        },
        {"type": "web_search_call", "id": "w"},
    ]
    messages = snapshot_messages(items, first_index=10)
    assert messages == [
        {"id": "item-10", "role": "user", "content": "6*7?"},
        {
            "id": "item-11",
            "role": "assistant",
            "toolCalls": [
                {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": "{}"}}
            ],
        },
        {"id": "item-12", "role": "tool", "toolCallId": "c1", "content": "42"},
        {"id": "item-13", "role": "assistant", "content": "42"},
    ]


def test_a_stream_going_on_past_its_interrupts_does_not_repeat_them():
    approval = {"type": "approval_requested", "approval_id": "a1", "tool_name": "t", "call_id": "c"}
    events = [approval, item("tool_output", output="ok", call_id="c"), STORY[-1]]
    resumed = encoder(resume_after=1)
    sent = stream(resumed, events) + decode(resumed.closing())
    kinds = [event["type"] for _, event in sent]
    assert kinds == ["RUN_STARTED", "TOOL_CALL_RESULT", "RUN_FINISHED"]
    assert sent[-1][1]["outcome"] == {"type": "success"}
