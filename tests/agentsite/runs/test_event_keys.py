"""Every event kind of DESIGN.md §5, built from SDK objects, carries every key the FastAPI app
sent — through the encoder, the SSE stream and the WebSocket alike.

The events are real ``agents`` / ``openai`` objects (stream events wrapping response events and
run items), fed to the run driver in place of a model run, so both transports see exactly what
a run of that shape would stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from agents import Agent, Handoff, function_tool, handoff
from agents.items import (
    HandoffCallItem,
    HandoffOutputItem,
    MCPApprovalRequestItem,
    MCPApprovalResponseItem,
    MCPListToolsItem,
    MessageOutputItem,
    ReasoningItem,
    ToolCallItem,
    ToolCallOutputItem,
)
from agents.stream_events import (
    AgentUpdatedStreamEvent,
    RawResponsesStreamEvent,
    RunItemStreamEvent,
    StreamEvent,
)
from agents.usage import Usage
from channels.testing import WebsocketCommunicator
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionToolCall,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseReasoningItem,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseRefusalDeltaEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.responses.response_output_item import (
    McpApprovalRequest,
    McpListTools,
    McpListToolsTool,
)
from openai.types.responses.response_reasoning_item import Summary

import agentsite.runs.agent_work as agent_work
from agentsite.asgi import application
from agentsite.runs.events import EventEncoder
from tests.agentsite.web.contract import (
    RAW_KEYS_BY_EVENT_TYPE,
    RUN_ITEM_KEYS_BY_NAME,
    assert_event_keys,
)
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)


@function_tool
def lookup(city: str) -> str:
    """Look a city up.

    Args:
        city: The city.
    """
    return city


SPECIALIST = Agent(name="Specialist", instructions="Be precise.")
TRIAGE = Agent(
    name="Triage",
    instructions=lambda context, agent: "Computed per run",
    tools=[lookup],
    handoffs=[SPECIALIST],
)
HANDOFF_TOOL = Handoff.default_tool_name(SPECIALIST)


@dataclass
class FutureSdkEvent:
    """A stream event kind the encoder does not know (a newer SDK's)."""

    payload: str
    type: str = "future_event"


def response(status: str) -> Response:
    return Response(
        id="resp_1",
        created_at=0,
        model="gpt-test",
        object="response",
        output=[],
        parallel_tool_calls=True,
        tool_choice="auto",
        tools=[],
        status=status,
    )


def text_part(text: str) -> ResponseOutputText:
    return ResponseOutputText(annotations=[], text=text, type="output_text")


def message(text: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id="msg_1", content=[text_part(text)], role="assistant", status="completed", type="message"
    )


CALL = ResponseFunctionToolCall(
    id="fc_1", call_id="call_1", name="lookup", arguments='{"city":"Oslo"}', type="function_call"
)
HANDOFF_CALL = ResponseFunctionToolCall(
    id="fc_2",
    call_id="call_2",
    name=HANDOFF_TOOL,
    arguments='{"reason":"needs precision"}',
    type="function_call",
)


def raw(data: Any) -> RawResponsesStreamEvent:
    return RawResponsesStreamEvent(data=data)


def every_event_kind() -> list[StreamEvent]:
    """One event of each kind in the §5 table, in the order a run could stream them."""
    seq = iter(range(1, 100))
    text_ids = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    return [
        AgentUpdatedStreamEvent(new_agent=TRIAGE),
        raw(
            ResponseCreatedEvent(
                response=response("in_progress"), sequence_number=next(seq), type="response.created"
            )
        ),
        raw(
            ResponseInProgressEvent(
                response=response("in_progress"),
                sequence_number=next(seq),
                type="response.in_progress",
            )
        ),
        raw(
            ResponseOutputItemAddedEvent(
                item=CALL,
                output_index=0,
                sequence_number=next(seq),
                type="response.output_item.added",
            )
        ),
        raw(
            ResponseFunctionCallArgumentsDeltaEvent(
                delta='{"city":',
                item_id="fc_1",
                output_index=0,
                sequence_number=next(seq),
                type="response.function_call_arguments.delta",
            )
        ),
        raw(
            ResponseOutputItemDoneEvent(
                item=CALL,
                output_index=0,
                sequence_number=next(seq),
                type="response.output_item.done",
            )
        ),
        raw(
            ResponseReasoningSummaryTextDeltaEvent(
                delta="Thinking",
                item_id="rs_1",
                output_index=1,
                summary_index=0,
                sequence_number=next(seq),
                type="response.reasoning_summary_text.delta",
            )
        ),
        raw(
            ResponseOutputItemAddedEvent(
                item=message(""),
                output_index=0,
                sequence_number=next(seq),
                type="response.output_item.added",
            )
        ),
        raw(
            ResponseContentPartAddedEvent(
                part=text_part(""),
                sequence_number=next(seq),
                type="response.content_part.added",
                **text_ids,
            )
        ),
        raw(
            ResponseTextDeltaEvent(
                delta="Hello",
                logprobs=[],
                sequence_number=next(seq),
                type="response.output_text.delta",
                **text_ids,
            )
        ),
        raw(
            ResponseRefusalDeltaEvent(
                delta="I can't",
                sequence_number=next(seq),
                type="response.refusal.delta",
                **text_ids,
            )
        ),
        raw(
            ResponseTextDoneEvent(
                text="Hello",
                logprobs=[],
                sequence_number=next(seq),
                type="response.output_text.done",
                **text_ids,
            )
        ),
        raw(
            ResponseContentPartDoneEvent(
                part=text_part("Hello"),
                sequence_number=next(seq),
                type="response.content_part.done",
                **text_ids,
            )
        ),
        raw(
            ResponseCompletedEvent(
                response=response("completed"), sequence_number=next(seq), type="response.completed"
            )
        ),
        RunItemStreamEvent(name="tool_called", item=ToolCallItem(agent=TRIAGE, raw_item=CALL)),
        RunItemStreamEvent(
            name="tool_output",
            item=ToolCallOutputItem(
                agent=TRIAGE,
                raw_item={"call_id": "call_1", "output": "Oslo", "type": "function_call_output"},
                output="Oslo",
            ),
        ),
        RunItemStreamEvent(
            name="reasoning_item_created",
            item=ReasoningItem(
                agent=TRIAGE,
                raw_item=ResponseReasoningItem(
                    id="rs_1",
                    summary=[Summary(text="Thinking", type="summary_text")],
                    type="reasoning",
                ),
            ),
        ),
        RunItemStreamEvent(
            name="mcp_list_tools",
            item=MCPListToolsItem(
                agent=TRIAGE,
                raw_item=McpListTools(
                    id="mcpl_1",
                    server_label="files",
                    tools=[McpListToolsTool(name="read_file", input_schema={})],
                    type="mcp_list_tools",
                ),
            ),
        ),
        RunItemStreamEvent(
            name="mcp_approval_requested",
            item=MCPApprovalRequestItem(
                agent=TRIAGE,
                raw_item=McpApprovalRequest(
                    id="mcpr_1",
                    arguments='{"path":"/etc"}',
                    name="read_file",
                    server_label="files",
                    type="mcp_approval_request",
                ),
            ),
        ),
        RunItemStreamEvent(
            name="mcp_approval_response",
            item=MCPApprovalResponseItem(
                agent=TRIAGE,
                raw_item={
                    "approval_request_id": "mcpr_1",
                    "approve": False,
                    "type": "mcp_approval_response",
                },
            ),
        ),
        RunItemStreamEvent(
            name="handoff_requested", item=HandoffCallItem(agent=TRIAGE, raw_item=HANDOFF_CALL)
        ),
        RunItemStreamEvent(
            name="handoff_occured",
            item=HandoffOutputItem(
                agent=TRIAGE,
                raw_item={"call_id": "call_2", "output": "{}", "type": "function_call_output"},
                source_agent=TRIAGE,
                target_agent=SPECIALIST,
            ),
        ),
        AgentUpdatedStreamEvent(new_agent=SPECIALIST),
        RunItemStreamEvent(
            name="message_output_created",
            item=MessageOutputItem(agent=SPECIALIST, raw_item=message("Hello")),
        ),
        FutureSdkEvent(payload="something new"),  # type: ignore[list-item]
    ]


def kinds(events: list[dict[str, Any]]) -> set[str]:
    return {event.get("event_type") or event.get("name") or event["type"] for event in events}


EXPECTED_KINDS = (
    set(RAW_KEYS_BY_EVENT_TYPE) | set(RUN_ITEM_KEYS_BY_NAME) | {"agent_updated", "unknown_event"}
)


def assert_every_kind_exact(events: list[dict[str, Any]]) -> None:
    """Each event has its contract keys, every kind of the table is there, and the values are
    the ones the SDK objects carried."""
    for event in events:
        assert_event_keys(event)
    assert kinds(events) >= EXPECTED_KINDS, EXPECTED_KINDS - kinds(events)
    by_kind = {
        event.get("event_type") or event.get("name") or event["type"]: event for event in events
    }
    assert events[0]["agent_instructions"] == "Dynamic instructions"
    added = next(
        e
        for e in events
        if e.get("event_type") == "response.output_item.added" and e["item_type"] == "function_call"
    )
    assert (added["tool_name"], added["call_id"]) == ("lookup", "call_1")
    assert by_kind["response.function_call_arguments.delta"]["call_id"] == "call_1"
    assert by_kind["response.content_part.added"]["item_id"] == "msg_1"
    assert by_kind["response.content_part.done"]["content_index"] == 0
    assert by_kind["response.reasoning_summary_text.delta"]["delta"] == "Thinking"
    assert by_kind["response.refusal.delta"]["delta"] == "I can't"
    assert by_kind["tool_output"]["tool_name"] == "lookup"
    assert by_kind["tool_output"]["output"] == "Oslo"
    assert by_kind["handoff_requested"]["target_agent"] == "Specialist"
    assert by_kind["handoff_requested"]["reason"] == "needs precision"
    assert by_kind["handoff_occured"]["previous_agent"] == "Triage"
    assert by_kind["mcp_list_tools"]["server_name"] == "files"
    assert by_kind["mcp_list_tools"]["tools"] == ["read_file"]
    assert by_kind["mcp_approval_requested"]["tool_name"] == "read_file"
    assert by_kind["mcp_approval_requested"]["server_name"] == "files"
    assert by_kind["mcp_approval_response"]["item_type"] == "mcp_approval_response_item"
    unknown = by_kind["unknown_event"]
    assert unknown["event_class"] == "FutureSdkEvent"
    assert "something new" in unknown["data"]
    # Every event is one JSON object on the wire, whatever the SDK object held.
    json.dumps(events)


def test_encoder_sends_every_key_of_every_kind():
    encoder = EventEncoder("gpt-test")
    assert_every_kind_exact([encoder.encode(event) for event in every_event_kind()])


def test_static_instructions_are_sent_as_text():
    wire = EventEncoder("gpt-test").encode(AgentUpdatedStreamEvent(new_agent=SPECIALIST))
    assert wire["agent_instructions"] == "Be precise."


def test_handoff_without_reason_sends_null_reason():
    call = HANDOFF_CALL.model_copy(update={"arguments": "{}"})
    encoder = EventEncoder("gpt-test")
    encoder.encode(AgentUpdatedStreamEvent(new_agent=TRIAGE))
    wire = encoder.encode(
        RunItemStreamEvent(
            name="handoff_requested", item=HandoffCallItem(agent=TRIAGE, raw_item=call)
        )
    )
    assert wire["reason"] is None and wire["target_agent"] == "Specialist"


def test_custom_handoff_target_is_named():
    custom = handoff(SPECIALIST, tool_name_override="escalate")
    agent = Agent(name="Front", handoffs=[custom])
    encoder = EventEncoder("gpt-test")
    encoder.encode(AgentUpdatedStreamEvent(new_agent=agent))
    call = HANDOFF_CALL.model_copy(update={"name": "escalate"})
    wire = encoder.encode(
        RunItemStreamEvent(
            name="handoff_requested", item=HandoffCallItem(agent=agent, raw_item=call)
        )
    )
    assert wire["target_agent"] == "Specialist"


class ReplayedRun:
    """What ``Runner.run_streamed`` returns, streaming the given SDK events."""

    def __init__(self, events: list[StreamEvent]) -> None:
        self._events = events
        self.is_complete = False
        self.final_output = "Hello"
        self.current_turn = 1
        self.last_response_id = "resp_1"
        self.last_agent = SPECIALIST
        self.context_wrapper = SimpleNamespace(usage=Usage(requests=1))
        self.interruptions: list[Any] = []  # no tool call waits for approval

    def cancel(self, mode: str = "immediate") -> None:
        self.is_complete = True

    async def stream_events(self):
        for event in self._events:
            yield event
        self.is_complete = True


@pytest.fixture
def replay_every_kind(monkeypatch):
    runner = SimpleNamespace(run_streamed=lambda *args, **kwargs: ReplayedRun(every_event_kind()))
    monkeypatch.setattr(agent_work, "Runner", runner)


async def test_sse_stream_carries_every_key(client, replay_every_kind):
    response = await client.post("/chat/stream", {"input": "Hi"}, content_type="application/json")
    events = parse_sse(b"".join([chunk async for chunk in response.streaming_content]))
    assert events[-1]["type"] == "stream_complete"
    assert_every_kind_exact(events[:-1])


async def test_websocket_carries_every_key(replay_every_kind):
    communicator = WebsocketCommunicator(
        application,
        "/ws/chat/",
        headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")],
    )
    accepted, _ = await communicator.connect(timeout=5)
    assert accepted
    try:
        await communicator.send_json_to({"type": "run", "input": "Hi"})
        events = [await communicator.receive_json_from(5)]
        while events[-1]["type"] not in ("stream_complete", "error"):
            events.append(await communicator.receive_json_from(5))
    finally:
        await communicator.disconnect()
    assert events[-1]["type"] == "stream_complete"
    assert_every_kind_exact(events[:-1])
