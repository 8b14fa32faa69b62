"""Approvals across processes (DESIGN.md §9): a run paused on server A is decided through
server B and completes there; a run paused before its server restarts is decided after it.

Two daphne processes on one PostgreSQL database and one Redis (database 8, this module's own):
nothing of a paused run may live in a process. The assistant's ``send_email`` needs approval;
the mail goes to the console backend, i.e. the deciding server's log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.agentsite.runs.test_multiprocess import STREAM_TIMEOUT, SseReader, assert_contiguous
from tests.support.server import (
    ServerPair,
    ServerProcess,
    server_pair,
)

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]

REDIS_DB_APPROVALS = 8
Event = dict[str, Any]


Servers = ServerPair


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with server_pair(tmp_path_factory.mktemp("approvals-multiprocess"), REDIS_DB_APPROVALS) as pair:
        yield pair


@pytest.fixture(autouse=True)
def clean_logs(servers: Servers) -> Iterator[None]:
    """Whatever a case did, neither server may have logged a traceback."""
    yield
    servers.assert_no_tracebacks()


def pause_on(server: ServerProcess, session_id: str, address: str) -> list[tuple[int, Event]]:
    body = {"input": f"email {address} that the report is ready", "session_id": session_id}
    with (
        server.client(timeout=STREAM_TIMEOUT) as http,
        http.stream("POST", "/assistant/stream", json=body) as response,
    ):
        events = SseReader(response).read_to_end()
    assert events[-1][1]["type"] == "approval_requested", [e["type"] for _, e in events]
    assert_contiguous(events)
    return events


def status_on(server: ServerProcess, run_id: str) -> dict[str, Any]:
    with server.client() as http:
        response = http.get(f"/assistant/runs/{run_id}")
    assert response.status_code == 200, response.text
    return response.json()


def decide_streaming(
    server: ServerProcess, run_id: str, decision: dict[str, Any]
) -> list[tuple[int, Event]]:
    with (
        server.client(timeout=STREAM_TIMEOUT) as http,
        http.stream(
            "POST",
            f"/assistant/runs/{run_id}/approvals",
            json={"decisions": [decision]},
            headers={"Accept": "text/event-stream"},
        ) as response,
    ):
        reader = SseReader(response)
        assert reader.run_id == run_id
        return reader.read_to_end()


def replay(server: ServerProcess, run_id: str, after: int) -> list[tuple[int, Event]]:
    with (
        server.client(timeout=STREAM_TIMEOUT) as http,
        http.stream("GET", f"/assistant/runs/{run_id}/stream?after={after}") as response,
    ):
        return SseReader(response).read_to_end()


def test_paused_on_a_approved_through_b_completes(servers: Servers):
    paused = pause_on(servers.a, "mp-approve", "bob@example.com")
    requested = paused[-1][1]
    run_id = requested["run_id"]

    status = status_on(servers.b, run_id)
    assert status["status"] == "awaiting_approval"
    assert [approval["id"] for approval in status["approvals"]] == [requested["approval_id"]]

    resumed = decide_streaming(servers.b, run_id, {"id": requested["approval_id"], "approve": True})
    assert_contiguous(resumed, first=len(paused) + 1)
    final = resumed[-1][1]
    assert final["type"] == "stream_complete" and final["run_id"] == run_id
    assert "Email sent to bob@example.com" in final["final_output"]
    # B ran the tool (its console backend printed the mail), A did not.
    assert "To: bob@example.com" in servers.b.log()
    assert "To: bob@example.com" not in servers.a.log()
    # A follows the same run from the shared log: the very events B streamed.
    assert replay(servers.a, run_id, after=len(paused)) == resumed
    assert status_on(servers.a, run_id)["status"] == "completed"
    # The conversation is free again, from either server.
    with servers.a.client(timeout=STREAM_TIMEOUT) as http:
        again = http.post("/assistant/run", json={"input": "thanks", "session_id": "mp-approve"})
    assert again.status_code == 200, again.text


def test_a_pause_survives_a_restart_of_the_server(servers: Servers):
    paused = pause_on(servers.a, "mp-restart", "carol@example.com")
    requested = paused[-1][1]
    run_id = requested["run_id"]

    assert servers.a.stops_cleanly()
    servers.a.start()

    with servers.a.client() as http:
        busy = http.post("/assistant/run", json={"input": "hello?", "session_id": "mp-restart"})
    assert busy.status_code == 409 and busy.json()["code"] == "approval_pending"

    decision = {"id": requested["approval_id"], "approve": False, "reason": "Carol is away"}
    resumed = decide_streaming(servers.a, run_id, decision)
    assert_contiguous(resumed, first=len(paused) + 1)
    output = next(event for _, event in resumed if event.get("name") == "tool_output")
    assert "Carol is away" in output["output"]
    assert "Carol is away" in resumed[-1][1]["final_output"]
    assert "To: carol@example.com" not in servers.a.log() + servers.b.log()
    # The whole run, both halves, replays from B.
    whole = replay(servers.b, run_id, after=0)
    assert whole == paused + resumed
    assert json.loads(requested["tool_arguments"])["to"] == "carol@example.com"
