"""Real SSE client libraries read agentsite's streams and see exactly the events it sent.

httpx-sse and @microsoft/fetch-event-source hand a block that holds only ``retry:`` or only a
comment to the application as an event with empty data, so a plain ``json.loads(event.data)``
loop used to crash on the first block of every stream and on every heartbeat (DESIGN §5). Each
test reads a real daphne server whose heartbeats come several times between two words, with
the library as a client would use it, and compares what the library handed over with the
events the server logged for the run. The browser's own ``EventSource`` is tested in
tests/e2e/test_event_source.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sseclient
from httpx_sse import connect_sse

from tests.support.server import REPO_ROOT, ServerPool, ServerProcess, fresh_database
from tests.support.sse import parse_sse

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

JS_CLIENTS = REPO_ROOT / "tests" / "js"
# Heartbeats every 20 ms while the offline model waits 60 ms between words.
SERVER_ENV = {"OFFLINE_MODEL_DELAY": "0.06", "SSE_HEARTBEAT_SECONDS": "0.02", "SSE_RETRY_MS": "300"}
PROMPT = {"input": "Tell me about heartbeats in event streams", "session_id": "clients"}
HEARTBEAT = b": keep-alive\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("sse-clients")
    with fresh_database(directory) as database_url, ServerPool(directory, database_url) as pool:
        yield pool.start(**SERVER_ENV)


class RecordingTransport(httpx.HTTPTransport):
    """Keeps the raw bytes of every response body, so a test can show that the stream the
    library parsed really held heartbeats between its events."""

    def __init__(self) -> None:
        super().__init__()
        self.received = bytearray()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        upstream = response.stream
        received = self.received

        class Tee(httpx.SyncByteStream):
            def __iter__(self) -> Iterator[bytes]:
                for chunk in upstream:  # type: ignore[union-attr]
                    received.extend(chunk)
                    yield chunk

            def close(self) -> None:
                upstream.close()  # type: ignore[union-attr]

        response.stream = Tee()
        return response


def logged_events(server: ServerProcess, run_id: str) -> list[dict[str, Any]]:
    """The run's events as the server logged them (a resume from the start, read raw)."""
    with server.client() as client:
        response = client.get(f"/chat/runs/{run_id}/stream?after=0")
        assert response.status_code == 200, response.text
        return parse_sse(response.content)


def assert_exact(messages: list[Any], run_id: str, server: ServerProcess, first: int = 1) -> None:
    """``messages`` (objects with ``id`` and ``data``) are the run's events from ``first`` on,
    each once, in order, none of them empty."""
    assert messages, "the library handed over no event"
    empty = [message for message in messages if not message.data]
    assert not empty, f"{len(empty)} event(s) with empty data"
    events = [json.loads(message.data) for message in messages]
    assert events == logged_events(server, run_id)[first - 1 :]
    assert [message.id for message in messages] == [
        f"{run_id}:{seq}" for seq in range(first, first + len(events))
    ]
    assert events[-1]["type"] == "stream_complete"


def test_httpx_sse_reads_every_event_across_heartbeats(server):
    transport = RecordingTransport()
    with (
        httpx.Client(base_url=server.url, transport=transport, timeout=30) as client,
        connect_sse(client, "POST", "/chat/stream", json=PROMPT) as source,
    ):
        run_id = source.response.headers["X-Run-Id"]
        messages = list(source.iter_sse())
    assert transport.received.startswith(b"retry: 300\n")
    assert transport.received.count(HEARTBEAT) >= 3, "no heartbeats: the test proves nothing"
    assert_exact(messages, run_id, server)


def test_sseclient_py_reads_every_event_across_heartbeats(server):
    transport = RecordingTransport()
    with (
        httpx.Client(base_url=server.url, transport=transport, timeout=30) as client,
        client.stream(
            "POST", "/chat/stream", json={**PROMPT, "session_id": "sseclient"}
        ) as response,
    ):
        run_id = response.headers["X-Run-Id"]
        messages = list(sseclient.SSEClient(response.iter_bytes()).events())
    assert transport.received.count(HEARTBEAT) >= 3, "no heartbeats: the test proves nothing"
    assert_exact(messages, run_id, server)


def start_and_leave(server: ServerProcess, session_id: str, events: int) -> tuple[str, int]:
    """Start a run that goes on without its client, read ``events`` events, hang up; return
    the run id and the last seq read."""
    body = {**PROMPT, "session_id": session_id, "on_disconnect": "continue"}
    with (
        httpx.Client(base_url=server.url, timeout=30) as client,
        connect_sse(client, "POST", "/chat/stream", json=body) as source,
    ):
        run_id = source.response.headers["X-Run-Id"]
        seen = []
        for message in source.iter_sse():
            seen.append(message)
            if len(seen) == events:
                break
    return run_id, int(seen[-1].id.rpartition(":")[2])


class Message:
    def __init__(self, received: dict[str, Any]) -> None:
        self.id = received["id"]
        self.data = received["data"]
        self.event = received["event"]


def node_client(*args: str) -> list[Message]:
    node = shutil.which("node")
    if node is None or not (JS_CLIENTS / "node_modules").is_dir():
        pytest.fail("node and tests/js/node_modules are needed: `make test` installs them")
    completed = subprocess.run(
        [node, str(JS_CLIENTS / "fetch_event_source.mjs"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return [Message(received) for received in json.loads(completed.stdout)]


def test_fetch_event_source_resumes_a_run_after_a_drop(server):
    run_id, last_seq = start_and_leave(server, "fetch-event-source", events=6)
    messages = node_client(
        f"{server.url}/chat/runs/{run_id}/stream",
        json.dumps({"Last-Event-ID": f"{run_id}:{last_seq}"}),
    )
    assert all(message.event == "" or message.event is None for message in messages)
    assert_exact(messages, run_id, server, first=last_seq + 1)


def test_fetch_event_source_reads_a_whole_stream(server):
    messages = node_client(
        f"{server.url}/chat/stream",
        json.dumps({"content-type": "application/json"}),
        "POST",
        json.dumps({**PROMPT, "session_id": "fetch-whole"}),
    )
    run_id = messages[0].id.rpartition(":")[0]
    assert_exact(messages, run_id, server)
