"""A ``kill -9`` of the server in the middle of a streamed turn, then a restart on the same
database: every completed turn is intact, no half-written rows, the killed run's lease expires
and the conversation continues with its memory; the killed run is marked interrupted.

On the test run's kind of database (a SQLite file in the SQLite pass, PostgreSQL in the
PostgreSQL pass). The rows are read straight from the database, not only through the API.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ServerPool, ServerProcess, fresh_database

pytestmark = pytest.mark.slow

FIRST_TEXT = "My name is Ada and I repair lighthouse lamps."
KILLED_TEXT = "Tell me a very long story about the lighthouse keeper and the storm."
LEASE_SECONDS = 2
SERVER_SETTINGS = {"OFFLINE_MODEL_DELAY": "0.05", "RUN_LEASE_SECONDS": str(LEASE_SECONDS)}
EVENTS_BEFORE_KILL = 8
TAKEOVER_SECONDS = 30.0  # generous: the lease is 2 s, but the machine may be busy


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def servers(tmp_path: Path, database_url: str) -> Iterator[ServerPool]:
    with ServerPool(tmp_path, database_url) as pool:
        yield pool


def stored_rows(database_url: str, session_id: str) -> list[dict[str, Any]]:
    """The conversation's item rows as the database holds them, oldest first, and a check that
    the conversation's item count agrees with them."""
    query_items = (
        "SELECT i.position, i.data, i.role, i.item_type, i.interrupted"
        " FROM agentsite_conversationitem i JOIN agentsite_conversation c"
        " ON i.conversation_id = c.id WHERE c.session_id = {p} ORDER BY i.position"
    )
    query_count = "SELECT item_count FROM agentsite_conversation WHERE session_id = {p}"
    if database_url.startswith("sqlite:///"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        try:
            rows = connection.execute(query_items.format(p="?"), (session_id,)).fetchall()
            [(count,)] = connection.execute(query_count.format(p="?"), (session_id,)).fetchall()
        finally:
            connection.close()
    else:
        import psycopg

        with psycopg.connect(database_url) as connection:
            rows = connection.execute(query_items.format(p="%s"), (session_id,)).fetchall()
            [(count,)] = connection.execute(query_count.format(p="%s"), (session_id,)).fetchall()
    assert count == len(rows), f"item_count {count} but {len(rows)} item rows"
    return [
        {"position": p, "data": d, "role": r, "item_type": t, "interrupted": bool(i)}
        for p, d, r, t, i in rows
    ]


def assert_complete_items(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row holds one complete item: valid JSON, an object, with a role or a type; an
    assistant message has its text. The parsed items."""
    items = []
    for row in rows:
        item = json.loads(row["data"])  # a half-written row would not parse
        assert isinstance(item, dict), row
        assert item.get("role") or item.get("type"), row
        if item.get("role") == "assistant":
            content = item.get("content")
            assert content, row
            if isinstance(content, list):
                assert all(isinstance(part, dict) and "text" in part for part in content), row
        items.append(item)
    positions = [row["position"] for row in rows]
    assert positions == sorted(set(positions)), positions
    return items


def get_session(server: ServerProcess, session_id: str) -> list[dict[str, Any]]:
    with server.client() as http:
        response = http.get(f"/chat/session/{session_id}")
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def stream_then_kill(server: ServerProcess, session_id: str) -> tuple[str, list[dict[str, Any]]]:
    """Start a streamed turn, read a few events, kill -9 the server; the run id and events."""
    events: list[dict[str, Any]] = []
    with (
        server.client() as http,
        http.stream(
            "POST", "/chat/stream", json={"input": KILLED_TEXT, "session_id": session_id}
        ) as response,
    ):
        assert response.status_code == 200, response.read()
        run_id = response.headers["X-Run-Id"]
        lines = response.iter_lines()
        for line in lines:
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
            if len(events) >= EVENTS_BEFORE_KILL:
                break
        # Killed while the connection is open and the reply is still streaming.
        assert server.kill() == -signal.SIGKILL
    return run_id, events


def test_kill_9_mid_stream_then_restart(servers: ServerPool, database_url: str):
    first = servers.start(**SERVER_SETTINGS)
    with first.client() as http:
        turn_1 = http.post("/chat/run", json={"input": FIRST_TEXT, "session_id": "crash-1"})
    assert turn_1.status_code == 200, turn_1.text
    rows_before = stored_rows(database_url, "crash-1")
    assert [row["role"] for row in rows_before] == ["user", "assistant"]
    items_before = assert_complete_items(rows_before)

    killed_run, events = stream_then_kill(first, "crash-1")
    assert not [e for e in events if e["type"] in ("stream_complete", "error")], (
        "the turn must still be streaming when the server is killed"
    )
    assert any(e.get("event_type") == "response.output_text.delta" for e in events), events

    rows_after_kill = stored_rows(database_url, "crash-1")
    assert rows_after_kill[:2] == rows_before, "turn 1 is intact, byte for byte"
    items_after_kill = assert_complete_items(rows_after_kill)
    # The killed turn may have stored its user message (the SDK saves the input first), and
    # nothing of the reply it never finished.
    killed_turn = items_after_kill[2:]
    assert killed_turn in ([], [{"role": "user", "content": KILLED_TEXT}]), killed_turn

    second = servers.start(**SERVER_SETTINGS)
    assert get_session(second, "crash-1") == items_after_kill
    with second.client() as http:
        assert http.get(f"/chat/runs/{killed_run}").json()["status"] in ("running", "interrupted")

        deadline = time.monotonic() + TAKEOVER_SECONDS
        while True:
            turn_3 = http.post(
                "/chat/run", json={"input": "What do I repair?", "session_id": "crash-1"}
            )
            if turn_3.status_code != 409 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert turn_3.status_code == 200, f"the dead run's lease never expired: {turn_3.text}"
        reply = turn_3.json()["final_output"]
        assert "Earlier in this conversation you told me" in reply, reply
        assert FIRST_TEXT in reply, "the new turn remembers turn 1"

        ledger = http.get(f"/chat/runs/{killed_run}")
        assert ledger.status_code == 200, ledger.text

    rows_final = stored_rows(database_url, "crash-1")
    items_final = assert_complete_items(rows_final)
    assert rows_final[: len(rows_after_kill)] == rows_after_kill
    assert items_final[:2] == items_before
    assert [item.get("role") for item in items_final[len(items_after_kill) :]] == [
        "user",
        "assistant",
    ]
    assert get_session(second, "crash-1") == items_final
    assert second.stops_cleanly()
    log = second.log()
    assert "Exception inside application" not in log, log
    # Taking over the dead run's lease marks its ledger row interrupted (it is not left
    # "running" forever).
    assert ledger.json()["status"] == "interrupted", ledger.json()
