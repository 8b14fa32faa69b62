"""``ws/research/`` through the real ASGI application (origin check, auth, router, consumer)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents.testing import ModelCall
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from agentsite.asgi import application
from agentsite.web.apikeys import generate_api_key
from agentsite.web.consumers import CLOSE_UNAUTHORIZED
from research.manager import CANCELLED
from research.models import Report
from tests.research.conftest import PLAN, ResearchScript

pytestmark = pytest.mark.django_db(transaction=True)

HEADERS = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
TIMEOUT = 5.0
TERMINAL = {"stream_complete", "error", "run_cancelled"}


async def connect(path: str = "/ws/research/", headers=HEADERS) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await socket.connect()
    assert connected
    return socket


async def until_terminal(socket: WebsocketCommunicator) -> list[dict[str, Any]]:
    events = [await socket.receive_json_from(TIMEOUT)]
    while events[-1]["type"] not in TERMINAL:
        events.append(await socket.receive_json_from(TIMEOUT))
    return events


async def test_research_over_a_socket_sends_the_sse_events(use_research_script, knowledge_base):
    use_research_script(ResearchScript())
    socket = await connect()
    await socket.send_json_to({"type": "run", "query": "How do context managers work?"})
    events = await until_terminal(socket)
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    stages = [event.get("stage", event["type"]) for event in events]
    assert stages[:2] == ["planning", "planned"]
    assert stages[-3:] == ["writing", "report", "stream_complete"]
    assert stages.count("search_finished") == len(PLAN)
    report_id = events[0]["report_id"]
    assert (await Report.objects.aget(pk=report_id)).status == "completed"

    # The socket stays open for the next run and for pings.
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(TIMEOUT) == {"type": "pong"}
    await socket.disconnect()


@pytest.mark.parametrize(
    ("frame", "status"),
    [
        ({"type": "run", "query": "  "}, 422),
        ({"type": "run"}, 422),
        ({"type": "run", "query": ["not", "text"]}, 422),
        ({"type": "dance"}, 400),
        ({"type": "cancel"}, 409),
        ({"type": ["run"]}, 400),
        ({"type": {"run": True}}, 400),
        ({"type": "run", "query": "a\ud800b"}, 422),
    ],
)
async def test_bad_frames_are_answered_and_the_socket_stays_open(frame, status):
    socket = await connect()
    await socket.send_json_to(frame)
    error = await socket.receive_json_from(TIMEOUT)
    assert error["type"] == "error" and error["status"] == status
    await socket.send_to(text_data="{not json")
    assert (await socket.receive_json_from(TIMEOUT))["status"] == 400
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(TIMEOUT) == {"type": "pong"}
    await socket.disconnect()
    assert await Report.objects.acount() == 0


async def test_cancel_stops_the_run_and_keeps_its_progress(
    settings, use_research_script, knowledge_base
):
    settings.RESEARCH_CONCURRENCY = 1
    never = asyncio.Event()

    async def first_only(term: str, call: ModelCall) -> str:
        if term != PLAN[0][1]:
            await never.wait()
        return f"Summary of {term} [1]."

    use_research_script(ResearchScript(search=first_only))
    socket = await connect()
    await socket.send_json_to({"type": "run", "query": "context managers"})
    event = await socket.receive_json_from(TIMEOUT)
    while event.get("stage") != "search_finished":
        event = await socket.receive_json_from(TIMEOUT)
    await socket.send_json_to({"type": "run", "query": "a second one"})
    busy = await socket.receive_json_from(TIMEOUT)
    while busy["type"] != "error":  # progress of the running search may come first
        busy = await socket.receive_json_from(TIMEOUT)
    assert busy["status"] == 409

    await socket.send_json_to({"type": "cancel"})
    cancelled = await socket.receive_json_from(TIMEOUT)
    while cancelled["type"] != "run_cancelled":
        cancelled = await socket.receive_json_from(TIMEOUT)
    report = await Report.objects.aget(pk=cancelled["report_id"])
    assert report.status == "failed" and report.error == CANCELLED
    assert report.searches[0]["status"] == "completed"
    await socket.disconnect()


async def test_closing_the_socket_cancels_the_run(settings, use_research_script, knowledge_base):
    never = asyncio.Event()

    async def hang(term: str, call: ModelCall) -> str:
        await never.wait()
        return "unreachable"

    use_research_script(ResearchScript(search=hang))
    socket = await connect()
    await socket.send_json_to({"type": "run", "query": "context managers"})
    event = await socket.receive_json_from(TIMEOUT)
    while event.get("stage") != "search_started":
        event = await socket.receive_json_from(TIMEOUT)
    await socket.disconnect()
    report = await Report.objects.aget(pk=event["report_id"])
    assert report.status == "failed" and report.error == CANCELLED
    assert len(report.plan) == len(PLAN)


async def test_reports_belong_to_the_socket_owner(use_research_script, knowledge_base):
    use_research_script(ResearchScript())
    _, raw = await sync_to_async(generate_api_key)("ws-client")
    socket = await connect(f"/ws/research/?api_key={raw}")
    await socket.send_json_to({"type": "run", "query": "context managers"})
    events = await until_terminal(socket)
    await socket.disconnect()
    report = await Report.objects.aget(pk=events[-1]["report_id"])
    assert report.owner_key.startswith("key:")


async def test_a_bad_key_is_refused_with_4401():
    socket = WebsocketCommunicator(application, "/ws/research/?api_key=wrong", headers=HEADERS)
    connected, _ = await socket.connect()
    assert connected
    error = await socket.receive_json_from(TIMEOUT)
    assert error["type"] == "error" and error["status"] == 401
    closed = await socket.receive_output(TIMEOUT)
    assert closed == {"type": "websocket.close", "code": CLOSE_UNAUTHORIZED}


async def test_a_frame_nested_too_deeply_is_answered_and_the_socket_stays_open():
    socket = await connect()
    await socket.send_to(text_data='{"type": "run", "query": ' + "[" * 50_000 + "]" * 50_000 + "}")
    error = await socket.receive_json_from(TIMEOUT)
    assert (error["type"], error["status"], error["code"]) == ("error", 400, "bad_request")
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(TIMEOUT) == {"type": "pong"}
    await socket.disconnect()
