"""/{agent}/ui/chat, its resume, and /{agent}/ag-ui over HTTP: headers, framing, request
validation, the one-run-per-conversation rule, regenerate and Last-Event-ID resume."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from agentsite.conversations.leases import claim_conversation
from agentsite.models import ANONYMOUS_OWNER, Conversation
from tests.agentsite.web.protocols.test_ag_ui import decode as decode_ag_ui

pytestmark = pytest.mark.django_db(transaction=True)


def ui_body(text: str = "what is 6*7?", session: str = "ui-1", **extra: Any) -> dict[str, Any]:
    message = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": text}]}
    return {"id": session, "messages": [message], "trigger": "submit-message", **extra}


def ag_body(text: str = "what is 6*7?", thread: str = "ag-1", **extra: Any) -> dict[str, Any]:
    message = {"id": "u1", "role": "user", "content": text}
    return {"threadId": thread, "runId": "r1", "messages": [message], **extra}


async def read(response) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


async def post(client, path: str, body: Any, **headers: str):
    raw = body if isinstance(body, str) else json.dumps(body)
    return await client.post(path, raw, content_type="application/json", headers=headers)


async def test_ui_chat_streams_v1_chunks_ending_with_done(client):
    response = await post(client, "/assistant/ui/chat", ui_body())
    assert response.status_code == 200
    assert response["x-vercel-ai-ui-message-stream"] == "v1"
    assert response["Content-Type"].startswith("text/event-stream")
    raw = await read(response)
    assert raw.endswith(b"data: [DONE]\n\n")
    blocks = [b for b in raw.decode().split("\n\n") if b and b != "data: [DONE]"]
    chunks = [json.loads(block.split("data: ", 1)[1]) for block in blocks]
    assert chunks[0]["type"] == "start" and chunks[0]["messageId"] == response["X-Run-Id"]
    assert chunks[-1]["type"] == "finish"
    assert "tool-output-available" in [chunk["type"] for chunk in chunks]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("{not json", 400),
        ({"messages": []}, 422),
        ({**ui_body(), "id": "bad id/"}, 422),
        ({**ui_body(), "messages": []}, 422),
        ({**ui_body(), "trigger": "explode"}, 422),
        ({**ui_body(), "messages": [{"id": "a", "role": "assistant", "parts": []}]}, 422),
        (
            {**ui_body(), "messages": [{"id": "a", "role": "user", "parts": [{"type": "file"}]}]},
            422,
        ),
        ({**ui_body(), "messages": [{"id": "a", "role": "robot", "parts": []}]}, 422),
        (ui_body(text="\ud800"), 422),
        ({**ui_body(), "on_disconnect": "linger"}, 422),
    ],
)
async def test_ui_chat_refuses_bad_bodies(client, body, status):
    response = await post(client, "/assistant/ui/chat", body)
    assert response.status_code == status, response.content
    assert response.json()["success"] is False and response.json()["error"]
    assert not await Conversation.objects.aexists()


async def test_ui_chat_on_a_busy_conversation_is_409(client):
    await claim_conversation(ANONYMOUS_OWNER, "assistant", "busy", uuid.uuid4())
    response = await post(client, "/assistant/ui/chat", ui_body(session="busy"))
    assert response.status_code == 409
    assert response.json()["success"] is False


async def test_ui_chat_regenerate_replaces_the_last_turn(client):
    await read(await post(client, "/chat/ui/chat", ui_body("first", session="regen")))
    await read(await post(client, "/chat/ui/chat", ui_body("second", session="regen")))
    again = ui_body("second", session="regen", trigger="regenerate-message")
    await read(await post(client, "/chat/ui/chat", again))
    items = (await client.get("/chat/session/regen")).json()["messages"]
    assert [item.get("role") for item in items] == ["user", "assistant", "user", "assistant"]
    assert items[2]["content"] == "second"


async def test_ui_chat_resume_with_nothing_running_is_204(client):
    assert (await client.get("/assistant/ui/chat/nothing/stream")).status_code == 204
    assert (await client.get("/assistant/ui/chat/bad%20id/stream")).status_code == 422


async def test_ag_ui_streams_events_with_ids(client):
    response = await post(client, "/assistant/ag-ui", ag_body())
    assert response.status_code == 200
    run_id = response["X-Run-Id"]
    sent = decode_ag_ui(await read(response))
    assert sent[0] == (f"{run_id}:0", {"type": "RUN_STARTED", "threadId": "ag-1", "runId": "r1"})
    assert sent[-1][1]["type"] == "RUN_FINISHED"
    assert all(event_id.startswith(f"{run_id}:") for event_id, _ in sent if event_id)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("[]", 422),
        ({"runId": "r", "messages": []}, 422),
        ({**ag_body(), "threadId": "no spaces"}, 422),
        ({**ag_body(), "messages": [{"id": "a", "role": "wizard", "content": "x"}]}, 422),
        ({**ag_body(), "messages": [{"id": "a", "role": "assistant", "content": "x"}]}, 400),
        ({**ag_body(), "messages": []}, 400),
        ({**ag_body(), "forwardedProps": {"on_disconnect": "linger"}}, 400),
        (ag_body(text="\udfff"), 422),
    ],
)
async def test_ag_ui_refuses_bad_bodies(client, body, status):
    response = await post(client, "/assistant/ag-ui", body)
    assert response.status_code == status, response.content
    assert response.json()["success"] is False and response.json()["error"]
    assert not await Conversation.objects.aexists()


async def test_ag_ui_resumes_after_last_event_id(client):
    first = await post(client, "/assistant/ag-ui", ag_body("tell me a long story", thread="res"))
    run_id = first["X-Run-Id"]
    whole = decode_ag_ui(await read(first))
    last_seq = int(whole[-1][0].rpartition(":")[2])
    resumed = await post(
        client, "/assistant/ag-ui", ag_body(thread="res"), **{"Last-Event-ID": f"{run_id}:8"}
    )
    sent = decode_ag_ui(await read(resumed))
    # Events 6-8 opened the reply and sent two words: the message is opened again.
    assert sent[0] == (f"{run_id}:8", {"type": "RUN_STARTED", "threadId": "res", "runId": "r1"})
    assert sent[1][1]["type"] == "TEXT_MESSAGE_START"
    assert sent[2][0] == f"{run_id}:9"
    text = "".join(e["delta"] for _, e in whole if e["type"] == "TEXT_MESSAGE_CONTENT")
    after = [e for event_id, e in sent[2:]]
    resumed_text = "".join(e["delta"] for e in after if e["type"] == "TEXT_MESSAGE_CONTENT")
    assert text.endswith(resumed_text) and len(resumed_text) < len(text)
    at_end = await post(
        client,
        "/assistant/ag-ui",
        ag_body(thread="res"),
        **{"Last-Event-ID": f"{run_id}:{last_seq}"},
    )
    assert at_end.status_code == 204
    other = await post(
        client, "/assistant/ag-ui", ag_body(thread="other"), **{"Last-Event-ID": f"{run_id}:5"}
    )
    assert other.status_code == 400
    garbage = await post(
        client, "/assistant/ag-ui", ag_body(thread="res"), **{"Last-Event-ID": "nope"}
    )
    assert garbage.status_code == 400
    unknown = await post(
        client, "/assistant/ag-ui", ag_body(thread="res"), **{"Last-Event-ID": f"{uuid.uuid4()}:1"}
    )
    assert unknown.status_code == 404


async def test_without_sessions_the_client_history_is_the_input(client, settings):
    """ENABLE_SESSIONS=false keeps nothing: the history the client holds is what the model
    reads, on both protocols."""
    settings.ENABLE_SESSIONS = False
    earlier = [
        {"id": "u0", "role": "user", "parts": [{"type": "text", "text": "I keep bees."}]},
        {"id": "a0", "role": "assistant", "parts": [{"type": "text", "text": "Noted."}]},
    ]
    body = ui_body("What do I keep?", session="stateless")
    body["messages"] = earlier + body["messages"]
    raw = (await read(await post(client, "/chat/ui/chat", body))).decode()
    assert "I keep bees." in "".join(
        json.loads(line[6:]).get("delta", "")
        for line in raw.splitlines()
        if line.startswith("data: {")
    )
    thread = ag_body("What do I keep?", thread="stateless")
    thread["messages"] = [
        {"id": "u0", "role": "user", "content": "I keep bees."},
        {"id": "a0", "role": "assistant", "content": "Noted."},
        *thread["messages"],
    ]
    sent = decode_ag_ui(await read(await post(client, "/chat/ag-ui", thread)))
    assert "I keep bees." in sent[-1][1]["result"]
    assert not await Conversation.objects.aexists()
