"""Research runs on the shared run service: in the run ledger (and the admin's usage) with their
tokens, resumed after a disconnect over SSE and WebSocket with no gap or duplicate, and
cancelled through the path another process would take, with the report marked cancelled.

"Another process" is simulated the way the multi-process deployment sees it: the run is taken
out of this process's registry of live runs (``agentsite.runs.hub``), so a resume must read the
event log and a cancel must travel through the channel layer to the driver.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from agents.testing import ModelCall
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from agentsite.asgi import application
from agentsite.models import Run, RunEventBatch
from agentsite.runs import hub, start_run
from research.manager import CANCELLED, ResearchManager
from research.models import Report
from tests.agentsite.web.test_runs_http import AsgiStream, SseStream, assert_contiguous
from tests.research.conftest import PLAN, REPORT, ResearchScript, upstream_error
from tests.support.asgi import post_json_scope

pytestmark = pytest.mark.django_db(transaction=True)

QUERY = "How do context managers work?"
TIMEOUT = 10.0
HEADERS = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
# 1 planner + 5 searches + 1 writer, 15 tokens each (conftest.CALL_USAGE).
ALL_CALLS, TOKENS_PER_CALL = 7, 15


def gated_search(gate: asyncio.Event):
    """The first planned search answers at once, the others only once ``gate`` is set."""

    async def search(term: str, call: ModelCall) -> str:
        if term != PLAN[0][1]:
            await asyncio.wait_for(gate.wait(), TIMEOUT)
        return f"Summary of {term} [1]."

    return search


def is_first_search_finished(event: dict[str, Any]) -> bool:
    return event.get("stage") == "search_finished"


def leave_as_if_from_another_process(run_id: str) -> None:
    """Forget that this process runs ``run_id``: followers must read the event log and a cancel
    must go through the channel layer, as on a process that does not run it."""
    hub._live.pop(uuid.UUID(run_id))


async def stream_then_leave(payload: dict[str, Any]) -> AsgiStream:
    """POST /research/stream through the ASGI application and disconnect once the first search
    has finished (``receive`` answers ``http.disconnect``; Django cancels the response)."""
    body = json.dumps(payload).encode()
    sent: list[dict[str, Any]] = []
    gone = asyncio.Event()
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if b'"stage":"search_finished"' in message.get("body", b""):
            gone.set()

    await asyncio.wait_for(
        application(post_json_scope("/research/stream", body), receive, send), TIMEOUT
    )
    start = next(m for m in sent if m["type"] == "http.response.start")
    raw = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return AsgiStream(start["status"], dict(start["headers"]), raw)


async def resume(client, run_id: str, last_event_id: str = "") -> SseStream:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    response = await client.get(f"/research/runs/{run_id}/stream", headers=headers)
    assert response.status_code == 200, response.content
    return SseStream(response)


async def run_when(run_id: str, leaving: str = "running") -> Run:
    """The ledger row once its status is no longer ``leaving`` (the run records its end after
    the client has gone)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    run = await Run.objects.aget(pk=run_id)
    while run.status == leaving and loop.time() < deadline:
        await asyncio.sleep(0.02)
        run = await Run.objects.aget(pk=run_id)
    return run


# --- the ledger -----------------------------------------------------------------------------


async def test_a_research_run_is_in_the_ledger_with_its_tokens(
    client, admin_client, use_research_script, knowledge_base
):
    use_research_script(ResearchScript())
    response = await client.post(f"/research?query={QUERY}")
    assert response.status_code == 200
    report_id = response.json()["report_id"]

    run = await Run.objects.aget(pk=report_id)
    report = await Report.objects.aget(pk=report_id)
    assert (run.agent, run.status, run.owner_key) == ("research", "completed", report.owner_key)
    assert run.model == report.model and run.finished_at is not None
    assert run.usage == report.usage
    assert (run.requests, run.total_tokens) == (ALL_CALLS, ALL_CALLS * TOKENS_PER_CALL)
    assert run.event_count > 2 * len(PLAN)

    status = (await client.get(f"/research/runs/{report_id}")).json()
    assert (status["run_id"], status["agent"], status["status"]) == (
        report_id,
        "research",
        "completed",
    )
    assert status["usage"]["total_tokens"] == ALL_CALLS * TOKENS_PER_CALL
    assert (await client.get(f"/chat/runs/{report_id}")).status_code == 404

    usage = await sync_to_async(admin_client.get)("/admin/agentsite/run/usage/", {"days": 7})
    assert usage.context["totals"]["runs"] == 1
    assert usage.context["totals"]["total_tokens"] == ALL_CALLS * TOKENS_PER_CALL


async def test_a_failed_research_run_keeps_the_tokens_it_spent(
    client, use_research_script, knowledge_base
):
    use_research_script(ResearchScript(writer=upstream_error("writer unreachable")))
    response = await client.post(f"/research?query={QUERY}")
    assert response.status_code == 502
    run = await Run.objects.aget(pk=response.json()["report_id"])
    assert (run.status, run.error) == ("failed", response.json()["error"])
    assert (run.requests, run.total_tokens) == (ALL_CALLS - 1, (ALL_CALLS - 1) * TOKENS_PER_CALL)


# --- resume after a disconnect --------------------------------------------------------------


async def test_a_research_stream_resumes_after_a_disconnect_with_no_gap(
    client, settings, use_research_script, knowledge_base
):
    settings.RESEARCH_CONCURRENCY = 1
    gate = asyncio.Event()
    use_research_script(ResearchScript(search=gated_search(gate)))
    left = await stream_then_leave({"query": QUERY, "on_disconnect": "continue"})
    assert left.status == 200
    seen = left.events()
    run_id = left.run_id
    assert left.headers[b"X-Report-Id"].decode() == run_id
    assert any(is_first_search_finished(event) for _, event in seen)
    assert (await Run.objects.aget(pk=run_id)).status == "running"

    leave_as_if_from_another_process(run_id)
    follower = await resume(client, run_id, f"{run_id}:{seen[-1][0]}")
    gate.set()
    rest = await follower.read_to_end()

    assert_contiguous(seen + rest)
    assert rest[-1][1]["type"] == "stream_complete"
    assert rest[-1][1]["report_id"] == run_id
    assert rest[-1][1]["final_output"]["short_summary"] == REPORT["short_summary"]
    everything = await (await resume(client, run_id)).read_to_end()
    assert seen + rest == everything
    assert (await Report.objects.aget(pk=run_id)).status == "completed"
    assert (await run_when(run_id)).status == "completed"


async def test_by_default_leaving_the_stream_cancels_the_research(
    client, settings, use_research_script, knowledge_base
):
    settings.RESEARCH_CONCURRENCY = 1
    use_research_script(ResearchScript(search=gated_search(asyncio.Event())))
    left = await stream_then_leave({"query": QUERY})
    run = await run_when(left.run_id)
    assert (run.status, run.cancelled_by) == ("cancelled", "disconnect")
    report = await Report.objects.aget(pk=left.run_id)
    assert (report.status, report.error) == ("failed", CANCELLED)


async def connect(path: str = "/ws/research/") -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, path, headers=HEADERS)
    connected, _ = await socket.connect()
    assert connected
    return socket


async def frames_until(socket: WebsocketCommunicator, done) -> list[dict[str, Any]]:
    frames = [await socket.receive_json_from(TIMEOUT)]
    while not done(frames[-1]):
        frames.append(await socket.receive_json_from(TIMEOUT))
    return frames


def is_last(frame: dict[str, Any]) -> bool:
    return frame["type"] in hub.TERMINAL_TYPES


async def test_a_research_socket_resumes_after_a_reconnect(
    settings, use_research_script, knowledge_base
):
    settings.RESEARCH_CONCURRENCY = 1
    gate = asyncio.Event()
    use_research_script(ResearchScript(search=gated_search(gate)))
    first = await connect()
    await first.send_json_to({"type": "run", "query": QUERY, "on_disconnect": "continue"})
    seen = await frames_until(first, is_first_search_finished)
    await first.disconnect()
    run_id = seen[0]["run_id"]
    assert seen[0]["report_id"] == run_id
    assert (await Run.objects.aget(pk=run_id)).status == "running"

    leave_as_if_from_another_process(run_id)
    second = await connect()
    await second.send_json_to({"type": "resume", "run_id": run_id, "after": seen[-1]["seq"]})
    gate.set()
    rest = await frames_until(second, is_last)
    await second.disconnect()

    frames = seen + rest
    assert [frame["seq"] for frame in frames] == list(range(1, len(frames) + 1))
    assert rest[-1]["type"] == "stream_complete" and rest[-1]["report_id"] == run_id
    assert (await Report.objects.aget(pk=run_id)).status == "completed"


# --- cancel from another process ------------------------------------------------------------


async def test_cancel_through_the_api_of_another_process_stops_the_research(
    client, settings, use_research_script, knowledge_base
):
    settings.RESEARCH_CONCURRENCY = 1
    gate = asyncio.Event()
    use_research_script(ResearchScript(search=gated_search(gate)))
    response = await client.post("/research/stream", {"query": QUERY}, "application/json")
    stream = SseStream(response)
    await stream.read_until(is_first_search_finished)
    run_id = stream.run_id

    leave_as_if_from_another_process(run_id)
    cancelled = await client.post(f"/research/runs/{run_id}/cancel")
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["status"] == "cancelled"
    events = await stream.read_to_end()

    assert_contiguous(events)
    last = events[-1][1]
    assert last["type"] == "run_cancelled" and "report" not in stream.types()
    assert (last["report_id"], last["message"]) == (run_id, CANCELLED)
    assert last["cancelled_by"] == "anonymous"
    report = await Report.objects.aget(pk=run_id)
    assert (report.status, report.error) == ("failed", CANCELLED)
    assert report.searches[0]["status"] == "completed"
    assert all(search["status"] != "completed" for search in report.searches[1:])
    run = await Run.objects.aget(pk=run_id)
    assert (run.status, run.cancelled_by) == ("cancelled", "anonymous")
    # The planner and the first search were paid for.
    assert (run.requests, run.total_tokens) == (2, 2 * TOKENS_PER_CALL)
    assert run.usage == report.usage


async def test_another_owner_cannot_see_resume_or_cancel_a_research_run(
    client, use_research_script, knowledge_base
):
    use_research_script(ResearchScript())
    report_id = (await client.post(f"/research?query={QUERY}")).json()["report_id"]
    assert (await client.get(f"/research/runs/{report_id}")).status_code == 200
    assert await Run.objects.filter(pk=report_id).aupdate(owner_key="key:999") == 1
    for method, path in (
        ("get", f"/research/runs/{report_id}"),
        ("get", f"/research/runs/{report_id}/stream"),
        ("post", f"/research/runs/{report_id}/cancel"),
    ):
        response = await getattr(client, method)(path)
        assert response.status_code == 404, path
        assert response.json()["success"] is False


# --- privacy ------------------------------------------------------------------------------


async def test_deleting_a_report_deletes_its_runs_events(
    client, use_research_script, knowledge_base
):
    use_research_script(ResearchScript())
    response = await client.post("/research/stream", {"query": QUERY}, "application/json")
    events = await SseStream(response).read_to_end()
    run_id = events[-1][1]["run_id"]
    assert await RunEventBatch.objects.filter(run_id=run_id).aexists()
    assert (await client.get(f"/research/runs/{run_id}/stream")).status_code == 200

    await (await Report.objects.aget(pk=run_id)).adelete()

    assert not await RunEventBatch.objects.filter(run_id=run_id).aexists()
    gone = await client.get(f"/research/runs/{run_id}/stream")
    assert gone.status_code == 404 and gone.json()["success"] is False
    # The ledger keeps the run's metadata.
    assert (await Run.objects.aget(pk=run_id)).total_tokens == ALL_CALLS * TOKENS_PER_CALL


async def test_a_research_cancelled_before_it_started_ends_at_once(use_research_script):
    """A cancel that reaches the run before its pipeline has taken a step (a socket's cancel
    right after its run frame): the run ends cancelled, having called no model."""
    script = use_research_script(ResearchScript())
    manager = ResearchManager(QUERY, "owner:test")
    live = await start_run(manager.request())
    live.cancel("immediate", "owner:test")
    async with asyncio.timeout(TIMEOUT):
        events = [event async for _, event in live.follow()]
    assert [event["type"] for event in events] == ["run_cancelled"]
    assert events[0]["report_id"] == str(manager.report_id)
    assert script.calls == []
    assert (await run_when(str(manager.report_id))).status == "cancelled"
