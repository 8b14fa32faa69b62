"""The browser's own ``EventSource`` resumes a run and stops once it has every event.

Headless Chromium opens the resume URL of a run its client left, receives each remaining event
once through ``onmessage`` (none empty, across heartbeats), and, when the stream ends, makes
its automatic reconnection with ``Last-Event-ID``: the server answers 204 and the EventSource
closes, instead of reconnecting every ``retry`` milliseconds for ever.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.support.server import ServerPool, ServerProcess, fresh_database
from tests.support.sse import parse_sse

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SERVER_ENV = {"OFFLINE_MODEL_DELAY": "0.06", "SSE_HEARTBEAT_SECONDS": "0.02", "SSE_RETRY_MS": "200"}
COLLECT = """
(url) => new Promise((resolve) => {
  const received = [];
  const source = new EventSource(url);
  source.onmessage = (message) => received.push({id: message.lastEventId, data: message.data});
  source.onerror = () => {
    // Fired when the stream ends (the browser then reconnects) and when it gives up.
    if (source.readyState === EventSource.CLOSED) resolve({received, state: source.readyState});
  };
  setTimeout(() => { source.close(); resolve({received, state: "still open"}); }, 20000);
})
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("event-source")
    with fresh_database(directory) as database_url, ServerPool(directory, database_url) as pool:
        yield pool.start(**SERVER_ENV)


def test_event_source_resumes_then_stops(browser: Any, server: ServerProcess):
    body = {"input": "Hello there, EventSource", "session_id": "es", "on_disconnect": "continue"}
    with (
        httpx.Client(base_url=server.url, timeout=30) as client,
        connect_sse(client, "POST", "/chat/stream", json=body) as source,
    ):
        run_id = source.response.headers["X-Run-Id"]
        for seen, _ in enumerate(source.iter_sse(), start=1):
            if seen == 5:
                break

    context = browser.new_context(base_url=server.url)
    try:
        page = context.new_page()
        page.goto("/health")
        result = page.evaluate(COLLECT, f"/chat/runs/{run_id}/stream?after=5")
    finally:
        context.close()

    assert result["state"] == 2, "the EventSource kept reconnecting to a finished run"
    received = result["received"]
    assert received and all(message["data"] for message in received)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        logged = parse_sse(client.get(f"/chat/runs/{run_id}/stream?after=5").content)
    assert [json.loads(message["data"]) for message in received] == logged
    assert [message["id"] for message in received] == [
        f"{run_id}:{seq}" for seq in range(6, 6 + len(logged))
    ]
    assert logged[-1]["type"] == "stream_complete"
