"""Two server processes, one PostgreSQL database, one Redis: any process serves any turn.

This is the deployment DESIGN.md §7 promises behind a load balancer. Process A runs the model
slowly (a pause per word), so its runs last long enough to resume, cancel or collide with from
process B, which answers at full speed. Both always use PostgreSQL and Redis, whatever database
the test run itself is on: only real shared services can show that no process-local state is
needed (the event log is a Redis stream, cancellation goes through the Redis channel layer, the
one-run-per-conversation lease is a row in PostgreSQL).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis

from tests.support.server import (
    REDIS_DB_MULTIPROCESS,
    ServerPair,
    ServerProcess,
    server_pair,
)

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]

WORD_DELAY = 0.01  # process A: the long story (~550 words) streams for ~6 s
STREAM_TIMEOUT = 30.0  # seconds any one stream may take from start to end
TURN_ONE = "My favourite colour is teal and I keep bees."
STORY = "Tell me a long story about the lighthouse keeper and the seven gulls."

Event = dict[str, Any]


# A: the slow model; B: the fast one.
Servers = ServerPair


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """A and B on a fresh PostgreSQL database and this module's Redis database."""
    directory = tmp_path_factory.mktemp("multiprocess")
    slow = {"OFFLINE_MODEL_DELAY": str(WORD_DELAY)}
    with server_pair(directory, REDIS_DB_MULTIPROCESS, a=slow) as pair:
        for server in (pair.a, pair.b):
            with server.client() as http:
                config = http.get("/chat/info").json()["session_config"]
            assert config["database"] == "postgresql", f"{server.name} is not on PostgreSQL"
        yield pair


@pytest.fixture(autouse=True)
def clean_logs(servers: Servers) -> Iterator[None]:
    """Whatever a case did, neither server may have logged a traceback."""
    yield
    servers.assert_no_tracebacks()
    for server in (servers.a, servers.b):
        log = server.log()
        assert "Exception inside application" not in log, f"{server.name}:\n{log}"


@dataclass
class SseReader:
    """Reads numbered SSE events from an httpx line iterator, one event at a time.

    ``lines`` must stay referenced while the stream is open: a dropped ``iter_lines()``
    generator is closed, and that closes the connection.
    """

    response: httpx.Response
    run_id: str = ""
    events: list[tuple[int, Event]] = field(default_factory=list)
    _lines: Iterator[str] | None = None

    def __post_init__(self) -> None:
        assert self.response.status_code == 200, self.response.read()
        self.run_id = self.response.headers["X-Run-Id"]
        self._lines = self.response.iter_lines()

    def next_event(self) -> tuple[int, Event] | None:
        """The next event, or None at the end of the stream (the httpx timeout bounds it)."""
        assert self._lines is not None
        event_id = data = None
        for line in self._lines:
            if line.startswith("id: "):
                event_id = line.removeprefix("id: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
            elif line == "" and data is not None:
                assert event_id is not None, f"event without an id: {data}"
                run_part, _, seq = event_id.rpartition(":")
                assert run_part == self.run_id, f"{event_id} does not name run {self.run_id}"
                self.events.append((int(seq), json.loads(data)))
                return self.events[-1]
        return None

    def read_deltas(self, count: int) -> None:
        """Read until ``count`` text deltas have arrived."""
        seen = 0
        for _ in range(10_000):
            numbered = self.next_event()
            assert numbered is not None, f"stream ended early: {self.types()}"
            seen += numbered[1].get("event_type") == "response.output_text.delta"
            if seen >= count:
                return
        raise AssertionError("no end to the stream's events")

    def read_to_end(self) -> list[tuple[int, Event]]:
        for _ in range(10_000):
            if self.next_event() is None:
                return self.events
        raise AssertionError("no end to the stream's events")

    def types(self) -> list[str]:
        return [event["type"] for _, event in self.events]


def post_run(server: ServerProcess, body: dict[str, Any]) -> httpx.Response:
    with server.client(timeout=STREAM_TIMEOUT) as http:
        return http.post("/chat/run", json=body)


def run_status(server: ServerProcess, run_id: str) -> dict[str, Any]:
    with server.client() as http:
        response = http.get(f"/chat/runs/{run_id}")
    assert response.status_code == 200, response.text
    return response.json()


def session_messages(server: ServerProcess, session_id: str) -> list[dict[str, Any]]:
    with server.client() as http:
        response = http.get(f"/chat/session/{session_id}")
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def replay(server: ServerProcess, run_id: str, after: int = 0) -> list[tuple[int, Event]]:
    with (
        server.client(timeout=STREAM_TIMEOUT) as http,
        http.stream("GET", f"/chat/runs/{run_id}/stream?after={after}") as response,
    ):
        return SseReader(response).read_to_end()


def assert_contiguous(events: list[tuple[int, Event]], first: int = 1) -> None:
    assert [seq for seq, _ in events] == list(range(first, first + len(events)))


def test_turn_two_on_b_remembers_turn_one_on_a(servers: Servers):
    first = post_run(servers.a, {"input": TURN_ONE, "session_id": "mp-memory"})
    assert first.status_code == 200, first.text

    second = post_run(servers.b, {"input": "What did I tell you?", "session_id": "mp-memory"})

    assert second.status_code == 200, second.text
    reply = second.json()["final_output"]
    assert "Earlier in this conversation you told me" in reply
    assert TURN_ONE in reply
    roles = [message["role"] for message in session_messages(servers.a, "mp-memory")]
    assert roles == ["user", "assistant", "user", "assistant"]


def test_run_started_on_a_resumes_on_b_without_gaps_or_duplicates(servers: Servers):
    body = {"input": STORY, "session_id": "mp-resume", "on_disconnect": "continue"}
    with (
        servers.a.client(timeout=STREAM_TIMEOUT) as http,
        http.stream("POST", "/chat/stream", json=body) as response,
    ):
        original = SseReader(response)
        original.read_deltas(3)
    # The connection to A is closed: the client is gone, the run goes on.
    seen = original.events
    last_seq = seen[-1][0]
    assert run_status(servers.b, original.run_id)["status"] == "running"

    with (
        servers.b.client(timeout=STREAM_TIMEOUT) as http,
        http.stream(
            "GET",
            f"/chat/runs/{original.run_id}/stream",
            headers={"Last-Event-ID": f"{original.run_id}:{last_seq}"},
        ) as response,
    ):
        resumed = SseReader(response).read_to_end()

    assert_contiguous(resumed, first=last_seq + 1)
    assert resumed[-1][1]["type"] == "stream_complete"
    assert STORY in resumed[-1][1]["final_output"]
    # What the client saw on A and then on B is the run's log, each event exactly once.
    assert seen + resumed == replay(servers.a, original.run_id)
    assert run_status(servers.a, original.run_id)["status"] == "completed"
    # B read the run's events from the Redis stream, not from A's memory or the database.
    with redis.Redis.from_url(servers.redis_url) as client:
        assert client.keys(f"*{original.run_id}*"), "no event log for the run in Redis"


def test_run_on_a_is_cancelled_through_b(servers: Servers):
    session = "mp-cancel"
    with (
        servers.a.client(timeout=STREAM_TIMEOUT) as http,
        http.stream("POST", "/chat/stream", json={"input": STORY, "session_id": session}) as resp,
    ):
        stream = SseReader(resp)
        stream.read_deltas(2)
        with servers.b.client() as other:
            cancelled = other.post(f"/chat/runs/{stream.run_id}/cancel?mode=immediate")
        events = stream.read_to_end()

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert_contiguous(events)
    last = events[-1][1]
    assert last["type"] == "run_cancelled"
    assert "stream_complete" not in stream.types()
    partial = "".join(
        event["delta"]
        for _, event in events
        if event.get("event_type") == "response.output_text.delta"
    )
    assert partial and last["partial_output"] == partial
    for server in (servers.a, servers.b):
        assert run_status(server, stream.run_id)["status"] == "cancelled"

    messages = session_messages(servers.b, session)
    assert [message["role"] for message in messages] == ["user", "assistant"]
    assert messages[-1]["content"] == partial, "the history keeps exactly what the user saw"

    follow_up = post_run(servers.b, {"input": "Never mind.", "session_id": session})
    assert follow_up.status_code == 200, follow_up.text
    assert STORY in follow_up.json()["final_output"], "the next turn sees the cancelled one"


def test_one_run_per_conversation_across_processes(servers: Servers):
    session = "mp-busy"
    with ThreadPoolExecutor(max_workers=1) as pool:
        with (
            servers.a.client(timeout=STREAM_TIMEOUT) as http,
            http.stream("POST", "/chat/stream", json={"input": STORY, "session_id": session}) as r,
        ):
            running = SseReader(r)
            running.read_deltas(1)
            busy = post_run(servers.b, {"input": "Me too", "session_id": session})
            queued = pool.submit(
                post_run,
                servers.b,
                {"input": "After you", "session_id": session, "multitask": "enqueue"},
            )
            events = running.read_to_end()
            a_finished = time.monotonic()
        second = queued.result(timeout=STREAM_TIMEOUT)
        b_finished = time.monotonic()

    assert busy.status_code == 409, busy.text
    assert busy.json()["success"] is False
    assert events[-1][1]["type"] == "stream_complete"
    assert second.status_code == 200, second.text
    assert b_finished >= a_finished
    messages = session_messages(servers.b, session)
    assert [message["role"] for message in messages] == ["user", "assistant"] * 2
    assert [messages[0]["content"], messages[2]["content"]] == [STORY, "After you"]
    assert STORY in second.json()["final_output"], "the queued turn saw the finished one"
