"""The database goes away under a running server (PostgreSQL behind a TCP proxy the test cuts):
every request gets a clear JSON error instead of a 500 page, nothing stored is lost, and once
the database is back the same server process serves the conversation on.

PostgreSQL whatever the test run's database: a SQLite file cannot vanish from under a process
in a meaningful way. Runs in both passes of ``make test``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.support.server import ServerPool, ServerProcess, fresh_postgresql_database
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

FIRST_TEXT = "My name is Ada and I keep bees on the roof."
RECOVERY_SECONDS = 20.0


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", 5432) as running:
        yield running


@pytest.fixture
def servers(tmp_path: Path, proxy: TcpProxy) -> Iterator[ServerPool]:
    """Servers whose database connections all go through ``proxy``."""
    with fresh_postgresql_database() as direct_url:
        parts = urlsplit(direct_url)
        host = parts.netloc.rsplit("@", 1)
        credentials = f"{host[0]}@" if len(host) == 2 else ""
        proxied = urlunsplit(parts._replace(netloc=f"{credentials}127.0.0.1:{proxy.port}"))
        with ServerPool(tmp_path, proxied) as pool:
            yield pool


def post_run(http: httpx.Client, text: str, session_id: str | None) -> httpx.Response:
    body: dict[str, Any] = {"input": text}
    if session_id:
        body["session_id"] = session_id
    return http.post("/chat/run", json=body)


def stored(http: httpx.Client, session_id: str) -> list[dict[str, Any]]:
    response = http.get(f"/chat/session/{session_id}")
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def assert_database_error(response: httpx.Response) -> None:
    """A clear JSON error saying the database is unavailable: 503, no traceback, no HTML."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert body["success"] is False
    assert "database" in body["error"].lower(), body
    assert "Traceback" not in response.text


def sse_events(response: httpx.Response) -> list[dict[str, Any]]:
    return [
        json.loads(line.removeprefix("data: "))
        for line in response.iter_lines()
        if line.startswith("data: ")
    ]


def first_success(attempt, deadline: float) -> httpx.Response:
    """Retry ``attempt`` until it answers 200 or ``deadline`` passes; the last answer."""
    while True:
        response = attempt()
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_database_outage_at_request_time(servers: ServerPool, proxy: TcpProxy):
    server = servers.start()
    with server.client() as http:
        first = post_run(http, FIRST_TEXT, "outage-1")
        assert first.status_code == 200, first.text
        before = stored(http, "outage-1")
        assert [item.get("role") for item in before] == ["user", "assistant"]

        proxy.cut()

        health = http.get("/health")
        assert health.status_code == 503, health.text
        assert health.json()["database"] == "unavailable"
        assert_database_error(post_run(http, "Are you there?", "outage-1"))
        assert_database_error(post_run(http, "A stateless question", None))
        assert_database_error(
            http.post("/chat/stream", json={"input": "Still there?", "session_id": "outage-1"})
        )
        assert_database_error(http.get("/chat/session/outage-1"))
        assert_database_error(http.get("/chat/sessions"))
        assert_database_error(http.delete("/chat/session/outage-1"))
        assert proxy.refused > 0, "the server never tried the database"

        proxy.restore()

        assert http.get("/health").status_code == 200
        assert stored(http, "outage-1") == before
        second = post_run(http, "What do I keep on the roof?", "outage-1")
        assert second.status_code == 200, second.text
        assert FIRST_TEXT in second.json()["final_output"], "the conversation was remembered"
        with http.stream(
            "POST", "/chat/stream", json={"input": "And my name?", "session_id": "outage-1"}
        ) as response:
            assert response.status_code == 200
            events = sse_events(response)
        assert events[-1]["type"] == "stream_complete", events[-1]
        after = stored(http, "outage-1")
    assert after[:2] == before
    assert [item.get("role") for item in after] == ["user", "assistant"] * 3
    assert_no_crash(server)


def test_database_drops_mid_stream(servers: ServerPool, proxy: TcpProxy):
    # The default lease (120 s) is far longer than RECOVERY_SECONDS: the conversation is free
    # again soon after the database is back because the run's end is recorded then, not
    # because its lease ran out.
    # The long story (~550 words) streams for ~3 s: the database is cut while it does.
    server = servers.start(OFFLINE_MODEL_DELAY="0.005")
    with server.client() as http:
        first = post_run(http, FIRST_TEXT, "outage-2")
        assert first.status_code == 200, first.text
        before = stored(http, "outage-2")

        with http.stream(
            "POST",
            "/chat/stream",
            json={"input": "Tell me a long story about the bees.", "session_id": "outage-2"},
        ) as response:
            assert response.status_code == 200
            events = []
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                events.append(json.loads(line.removeprefix("data: ")))
                if events[-1].get("event_type") == "response.output_text.delta" and proxy.is_open:
                    proxy.cut()
        # The stream ended (the read above returned, no hang) with the run's last event, sent
        # from memory although the database could not record it: the run needed the database
        # to save its answer, so that event is a retryable error.
        last = events[-1]
        assert last["type"] == "error", last
        assert last["status"] == 503, last
        assert "database" in last["message"].lower(), last
        run_id = response.headers["X-Run-Id"]

        proxy.restore()

        deadline = time.monotonic() + RECOVERY_SECONDS
        after_restore = first_success(lambda: post_run(http, "Who am I?", "outage-2"), deadline)
        assert after_restore.status_code == 200, after_restore.text
        assert FIRST_TEXT in after_restore.json()["final_output"]
        after = stored(http, "outage-2")
        ledger = http.get(f"/chat/runs/{run_id}").json()
    assert ledger["status"] == "failed", ledger
    assert after[:2] == before, "the completed turn is intact"
    for item in after:
        assert isinstance(item, dict)
        assert item.get("role") or item.get("type"), item
    assert_no_crash(server)


def assert_no_crash(server: ServerProcess) -> None:
    assert server.running, f"the server died:\n{server.log()}"
    log = server.log()
    assert "Exception inside application" not in log, log
