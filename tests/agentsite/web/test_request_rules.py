"""Request rules with one home each, the same over HTTP and WebSocket: how invalid fields are
described, and which run a body asks for."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from agentsite.asgi import application
from agentsite.registry import get_spec
from agentsite.web.schemas import RunBody

BROWSER_HEADERS = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
BAD_BODIES = [
    {"input": ""},
    {"input": "hi", "session_id": "no spaces", "multitask": "sometimes"},
    {"input": [{"role": "user"}], "context": []},
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("body", BAD_BODIES)
async def test_invalid_fields_are_described_alike_over_http_and_websocket(body):
    http = await AsyncClient().post("/chat/stream", body, content_type="application/json")
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=BROWSER_HEADERS)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    await communicator.send_json_to({"type": "run", **body})
    frame = await communicator.receive_json_from(5)
    await communicator.disconnect()

    assert http.status_code == 422 and frame["status"] == 422
    http_problems = http.json()["error"].removeprefix("Invalid request: ")
    ws_problems = frame["message"].removeprefix("Invalid run frame: ")
    assert http_problems == ws_problems
    assert "body" not in http_problems and "Value error" not in http_problems


def test_a_body_asks_for_the_same_run_whichever_transport_carried_it(settings):
    settings.MULTITASK = "enqueue"
    spec = get_spec("chat")
    assert spec is not None
    plain = RunBody(input="hi", session_id="s-1", context={"k": 1})
    chosen = RunBody(input="hi", on_disconnect="continue", multitask="reject")

    request = plain.run_request(spec, "key:1", "cancel")
    assert (request.spec, request.input, request.owner) == (spec, "hi", "key:1")
    assert (request.session_id, request.context) == ("s-1", {"k": 1})
    # The transport's default on_disconnect and the site's MULTITASK fill in what a body omits.
    assert (request.on_disconnect, request.multitask) == ("cancel", "enqueue")
    assert plain.run_request(spec, "key:1", "continue").on_disconnect == "continue"
    own = chosen.run_request(spec, "key:1", "cancel")
    assert (own.on_disconnect, own.multitask, own.context) == ("continue", "reject", {})
