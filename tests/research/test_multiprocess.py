"""Research across two server processes on PostgreSQL and Redis: a research started on A is
resumed on B after the client left A, and cancelled through B while A runs it.

Process A runs the offline model with a pause before each step and one search at a time, so
a run lasts a few seconds; B answers at full speed. Both share the database (ledger, reports,
knowledge base) and Redis (the event log and the channel layer that carries the cancel).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.agentsite.runs.test_multiprocess import SseReader, assert_contiguous
from tests.support.server import (
    ServerProcess,
    run_manage,
    server_pair,
)

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]

# Not one of the suite's reserved numbers (11, 12, 13): this module flushes its own.
REDIS_DB_RESEARCH = 7
STEP_DELAY = "0.4"  # process A: planner, 5 searches one at a time, writer: ~3 s a run
STREAM_TIMEOUT = 30.0
QUERY = "How do Python exceptions work?"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ...]]:
    def load_corpus(database_url: str) -> None:
        loaded = run_manage(database_url, "load_corpus", "--verbosity", "0")
        assert loaded.returncode == 0, loaded.stderr

    slow = {"RESEARCH_OFFLINE_STEP_DELAY": STEP_DELAY, "RESEARCH_CONCURRENCY": "1"}
    with server_pair(
        tmp_path_factory.mktemp("research-multiprocess"),
        REDIS_DB_RESEARCH,
        a=slow,
        prepare=load_corpus,
    ) as pair:
        yield pair.a, pair.b


def read_until(reader: SseReader, stage: str) -> None:
    for _ in range(1000):
        numbered = reader.next_event()
        assert numbered is not None, f"stream ended early: {reader.types()}"
        if numbered[1].get("stage") == stage:
            return
    raise AssertionError(f"no {stage} event")


def get_json(server: ServerProcess, path: str) -> dict[str, Any]:
    with server.client() as http:
        response = http.get(path)
    assert response.status_code == 200, response.text
    return response.json()


def test_research_started_on_a_resumes_on_b_without_gaps(servers):
    a, b = servers
    body = {"query": QUERY, "on_disconnect": "continue"}
    with (
        a.client(timeout=STREAM_TIMEOUT) as http,
        http.stream("POST", "/research/stream", json=body) as response,
    ):
        original = SseReader(response)
        read_until(original, "search_finished")
    run_id, seen = original.run_id, original.events
    assert get_json(b, f"/research/runs/{run_id}")["status"] == "running"

    with (
        b.client(timeout=STREAM_TIMEOUT) as http,
        http.stream(
            "GET",
            f"/research/runs/{run_id}/stream",
            headers={"Last-Event-ID": f"{run_id}:{seen[-1][0]}"},
        ) as response,
    ):
        resumed = SseReader(response).read_to_end()

    assert_contiguous(seen + resumed)
    last = resumed[-1][1]
    assert (last["type"], last["report_id"]) == ("stream_complete", run_id)
    report = get_json(b, f"/research/reports/{run_id}")
    assert report["status"] == "completed"
    assert last["final_output"]["markdown_report"] == report["markdown_report"]
    status = get_json(a, f"/research/runs/{run_id}")
    assert (status["agent"], status["status"]) == ("research", "completed")
    assert status["usage"]["total_tokens"] == report["usage"]["total_tokens"] > 0


def test_research_on_a_is_cancelled_through_b(servers):
    a, b = servers
    with (
        a.client(timeout=STREAM_TIMEOUT) as http,
        http.stream("POST", "/research/stream", json={"query": QUERY}) as response,
    ):
        stream = SseReader(response)
        read_until(stream, "search_started")
        with b.client() as other:
            cancelled = other.post(f"/research/runs/{stream.run_id}/cancel")
        events = stream.read_to_end()

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert_contiguous(events)
    last = events[-1][1]
    assert (last["type"], last["report_id"]) == ("run_cancelled", stream.run_id)
    assert "report" not in stream.types()
    report = get_json(b, f"/research/reports/{stream.run_id}")
    assert report["status"] == "failed" and report["error"] == last["message"]
    for server in (a, b):
        assert get_json(server, f"/research/runs/{stream.run_id}")["status"] == "cancelled"
