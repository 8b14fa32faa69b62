"""Branches over HTTP: edit an earlier message (fork + run), switch branches, the history's
fork points (◀ n/m ▶), and the errors: unknown or foreign session, position or branch, bad
bodies, a run in progress."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async

from agentsite.conversations.leases import claim_conversation, release_conversation
from agentsite.web.apikeys import generate_api_key
from tests.agentsite.web.test_isolation import BearerClient

pytestmark = pytest.mark.django_db(transaction=True)


async def post(client, path: str, body: dict):
    return await client.post(path, body, content_type="application/json")


async def history(client, session_id: str = "br") -> dict:
    response = await client.get(f"/chat/session/{session_id}")
    assert response.status_code == 200
    return response.json()


def user_texts(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m.get("role") == "user"]


def user_position(body: dict, text: str) -> int:
    for message, position in zip(body["messages"], body["item_positions"], strict=True):
        if message.get("role") == "user" and message["content"] == text:
            return position
    raise AssertionError(f"no user message {text!r}")


async def three_turns(client, session_id: str = "br") -> dict:
    for text in ("one", "two", "three"):
        assert (
            await post(client, "/chat/run", {"input": text, "session_id": session_id})
        ).status_code == 200
    return await history(client, session_id)


async def test_edit_an_earlier_message_then_switch_between_the_versions(client):
    before = await three_turns(client)
    assert (before["branch"], before["branch_count"], before["forks"]) == (1, 1, [])
    assert len(before["item_positions"]) == len(before["messages"]) == 6
    two = user_position(before, "two")

    forked = await post(client, "/chat/session/br/fork", {"position": two})
    assert forked.status_code == 200
    assert forked.json() == {
        "session_id": "br", "branch": 2, "branch_count": 2, "input": "two", "success": True
    }  # fmt: skip
    assert user_texts(await history(client)) == ["one"]
    run = await post(client, "/chat/run", {"input": "two, edited", "session_id": "br"})
    # The offline model repeats what it remembers: only the new branch's turns.
    assert "one" in run.json()["final_output"] and "three" not in run.json()["final_output"]

    edited = await history(client)
    assert user_texts(edited) == ["one", "two, edited"]
    assert (edited["branch"], edited["branch_count"], edited["total"]) == (2, 2, 4)
    new_two = user_position(edited, "two, edited")
    assert edited["forks"] == [{"position": new_two, "turn": 2, "branches": [1, 2], "index": 2}]

    switched = await post(client, "/chat/session/br/branch", {"branch": 1})
    assert switched.status_code == 200
    assert switched.json()["branch"] == 1
    main = await history(client)
    assert user_texts(main) == ["one", "two", "three"]
    assert main["forks"] == [{"position": two, "turn": 2, "branches": [1, 2], "index": 1}]
    # The old contract keys are all still there.
    assert {"session_id", "messages", "message_count", "success", "error"} <= set(main)


async def test_unknown_session_position_or_branch_is_404(client):
    body = await three_turns(client)
    reply = body["item_positions"][1]
    cases = [
        ("/chat/session/br/fork", {"position": reply}),
        ("/chat/session/br/fork", {"position": 10_000}),
        ("/chat/session/nope/fork", {"position": 0}),
        ("/chat/session/br/branch", {"branch": 2}),
        ("/chat/session/nope/branch", {"branch": 1}),
    ]
    for path, payload in cases:
        response = await post(client, path, payload)
        assert response.status_code == 404, (path, payload)
        assert response.json()["success"] is False and response.json()["error"]


async def test_another_owners_session_is_404():
    _, first_key = await sync_to_async(generate_api_key)("first")
    _, second_key = await sync_to_async(generate_api_key)("second")
    first, second = BearerClient(first_key), BearerClient(second_key)
    body = await three_turns(first, "mine")
    position = user_position(body, "two")
    assert (
        await post(second, "/chat/session/mine/fork", {"position": position})
    ).status_code == 404
    assert (await post(first, "/chat/session/mine/fork", {"position": position})).status_code == 200
    assert (await post(second, "/chat/session/mine/branch", {"branch": 1})).status_code == 404


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/chat/session/br/fork", {}),
        ("/chat/session/br/fork", {"position": -1}),
        ("/chat/session/br/fork", {"position": "two"}),
        ("/chat/session/br/fork", {"position": 2**63}),
        ("/chat/session/br/fork", {"position": "2"}),
        ("/chat/session/br/fork", {"position": True}),
        ("/chat/session/br/fork", {"position": 2.5}),
        ("/chat/session/br/branch", {"branch": 0}),
        ("/chat/session/br/branch", {"branch": None}),
        ("/chat/session/br/branch", {"branch": 2**40}),
        ("/chat/session/br/branch", {"branch": "1"}),
        ("/chat/session/bad%20id/branch", {"branch": 1}),
    ],
)
async def test_bad_bodies_are_422(client, path, payload):
    response = await post(client, path, payload)
    assert response.status_code == 422, response.content
    assert response.json()["success"] is False


async def test_fork_and_switch_are_409_while_a_run_holds_the_conversation(client):
    body = await three_turns(client)
    token = uuid.uuid4()
    await claim_conversation("anonymous", "chat", "br", token)
    forked = await post(client, "/chat/session/br/fork", {"position": user_position(body, "two")})
    switched = await post(client, "/chat/session/br/branch", {"branch": 1})
    assert (forked.status_code, switched.status_code) == (409, 409)
    assert forked.json()["code"] == "conversation_busy"
    await release_conversation(token)
    assert user_texts(await history(client)) == ["one", "two", "three"]


async def test_openapi_documents_the_branch_endpoints(client):
    schema = (await client.get("/openapi.json")).json()
    for path in ("/chat/session/{session_id}/fork", "/chat/session/{session_id}/branch"):
        operation = schema["paths"][path]["post"]
        assert {"200", "404", "409", "422"} <= set(operation["responses"])
    session = schema["components"]["schemas"]["SessionOut"]["properties"]
    assert {"item_positions", "branch", "branch_count", "forks"} <= set(session)
