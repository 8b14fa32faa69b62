"""Each transport's form of a quota refusal: the WebSocket's ``error`` event (status 429, the
limit and ``retry_after``), and the AI SDK's and AG-UI's routes, which refuse before their
stream starts as they do a busy conversation (a JSON error with the status, here 429 with
``Retry-After`` and the ``X-RateLimit-*`` headers). Admitted protocol streams carry the
headers too."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentsite.governance.quotas import forget_cached_overrides
from tests.agentsite.web.protocols.test_http import ag_body, post, read, ui_body
from tests.agentsite.web.test_consumers import connected

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _one_run_per_minute(settings):
    forget_cached_overrides()
    settings.QUOTA_RUNS_PER_MINUTE = 1


async def test_websocket_refusal_is_an_error_event_with_status_429():
    async with connected("/ws/chat/") as socket:
        await socket.send({"type": "run", "input": "Hi", "session_id": "ws-q"})
        first = await socket.events_until_terminal()
        assert first[-1]["type"] == "stream_complete"
        await socket.send({"type": "run", "input": "Again", "session_id": "ws-q"})
        refused = await socket.receive()
        assert refused["type"] == "error"
        assert refused["status"] == 429 and refused["code"] == "quota_exceeded"
        assert refused["limit"] == "runs_per_minute"
        assert 0 < refused["retry_after"] <= 60
        assert "too many runs started this minute" in refused["message"]
        assert await socket.answers_ping()  # the socket stays open


def assert_refused(response: Any) -> None:
    assert response.status_code == 429
    body = json.loads(response.content)
    assert body["success"] is False and body["code"] == "quota_exceeded"
    assert 0 < int(response["Retry-After"]) <= 60
    assert response["X-RateLimit-Remaining"] == "runs-per-minute=0"


async def test_ai_sdk_refusal_is_a_429_before_the_stream(client):
    first = await post(client, "/chat/ui/chat", ui_body(session="ui-q"))
    assert first.status_code == 200
    assert first["X-RateLimit-Limit"] == "runs-per-minute=1"
    assert (await read(first)).endswith(b"data: [DONE]\n\n")
    refused = await post(client, "/chat/ui/chat", ui_body(text="again", session="ui-q2"))
    assert_refused(refused)


async def test_ag_ui_refusal_is_a_429_before_the_stream(client):
    first = await post(client, "/chat/ag-ui", ag_body(thread="ag-q"))
    assert first.status_code == 200
    assert first["X-RateLimit-Remaining"] == "runs-per-minute=0"
    await read(first)
    refused = await post(client, "/chat/ag-ui", ag_body(text="again", thread="ag-q2"))
    assert_refused(refused)
