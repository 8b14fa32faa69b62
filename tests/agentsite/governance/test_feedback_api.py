"""Feedback on assistant replies over the native HTTP API (DESIGN.md §10): rate, replace,
clear, see it again in the history, and only on an assistant reply of one's own conversation."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from agentsite.models import Conversation, Feedback, Run
from agentsite.web.apikeys import generate_api_key
from tests.agentsite.web.test_isolation import BearerClient

pytestmark = pytest.mark.django_db(transaction=True)


async def talk(client: AsyncClient, session_id: str, text: str = "hello there") -> dict[str, Any]:
    """One turn, then the stored history (with its items' positions)."""
    response = await client.post(
        "/chat/run", {"input": text, "session_id": session_id}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return (await client.get(f"/chat/session/{session_id}")).json()


def position_of(history: dict[str, Any], role: str) -> int:
    """The position of the last item with ``role`` in a history page."""
    found = [
        position
        for item, position in zip(history["messages"], history["item_positions"], strict=True)
        if item.get("role") == role
    ]
    return found[-1]


def feedback_url(session_id: str, position: int, agent: str = "chat") -> str:
    return f"/{agent}/session/{session_id}/items/{position}/feedback"


async def put(client: AsyncClient, url: str, body: Any) -> Any:
    return await client.put(url, body, content_type="application/json")


async def test_rating_a_reply_is_kept_and_shown_in_the_history(client):
    history = await talk(client, "fb-1")
    assert len(history["item_positions"]) == len(history["messages"]) == 2
    reply = position_of(history, "assistant")

    response = await put(client, feedback_url("fb-1", reply), {"rating": "up", "comment": " nice "})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True and body["position"] == reply
    assert body["feedback"]["rating"] == "up" and body["feedback"]["comment"] == "nice"
    run = await Run.objects.aget(session_id="fb-1")
    assert body["feedback"]["run_id"] == str(run.id)
    assert body["feedback"]["model"] == run.model != ""
    history = (await client.get("/chat/session/fb-1")).json()
    [shown] = history["feedback"]
    assert shown["position"] == reply and shown["rating"] == "up" and shown["comment"] == "nice"
    stored = await Feedback.objects.aget()
    assert (stored.owner_key, stored.agent, stored.rating) == ("anonymous", "chat", "up")


async def test_rating_again_replaces_the_rating_and_delete_clears_it(client):
    reply = position_of(await talk(client, "fb-2"), "assistant")
    url = feedback_url("fb-2", reply)
    await put(client, url, {"rating": "up", "comment": "good"})

    replaced = await put(client, url, {"rating": "down"})

    assert replaced.json()["feedback"]["rating"] == "down"
    assert replaced.json()["feedback"]["comment"] == ""
    assert await Feedback.objects.acount() == 1
    cleared = await client.delete(url)
    assert cleared.status_code == 200 and cleared.json()["feedback"] is None
    assert await Feedback.objects.acount() == 0
    assert (await client.get("/chat/session/fb-2")).json()["feedback"] == []
    # Clearing what is not rated is not an error.
    assert (await client.delete(url)).status_code == 200


@pytest.mark.parametrize(
    "body, problem",
    [
        ({"rating": "sideways"}, "rating"),
        ({}, "rating"),
        ({"rating": 1}, "rating"),
        ({"rating": "up", "comment": "x" * 2001}, "comment"),
        ({"rating": "up", "comment": "\ud800"}, "comment"),
    ],
)
async def test_bad_feedback_is_refused_with_the_usual_422(client, body, problem):
    reply = position_of(await talk(client, "fb-3"), "assistant")

    response = await put(client, feedback_url("fb-3", reply), body)

    assert response.status_code == 422
    error = response.json()
    assert error["success"] is False and error["code"] == "invalid_request"
    assert problem in error["error"]
    assert await Feedback.objects.acount() == 0


async def test_only_an_assistant_reply_can_be_rated(client):
    history = await talk(client, "fb-4")

    response = await put(
        client, feedback_url("fb-4", position_of(history, "user")), {"rating": "up"}
    )

    assert response.status_code == 422
    assert response.json()["code"] == "not_an_assistant_reply"
    assert await Feedback.objects.acount() == 0


async def test_an_unknown_item_or_session_is_a_404(client):
    await talk(client, "fb-5")

    missing_item = await put(client, feedback_url("fb-5", 999), {"rating": "up"})
    missing_session = await put(client, feedback_url("nobody-here", 1), {"rating": "up"})
    other_agent = await put(client, feedback_url("fb-5", 1, agent="assistant"), {"rating": "up"})
    bad_position = await put(client, "/chat/session/fb-5/items/-1/feedback", {"rating": "up"})

    assert missing_item.status_code == 404 and missing_item.json()["success"] is False
    assert missing_session.status_code == 404
    assert other_agent.status_code == 404
    assert bad_position.status_code == 422
    assert await Feedback.objects.acount() == 0


async def test_another_owners_reply_cannot_be_rated_or_seen():
    _, first_key = await sync_to_async(generate_api_key)("first")
    _, second_key = await sync_to_async(generate_api_key)("second")
    first, second = BearerClient(first_key), BearerClient(second_key)
    reply = position_of(await talk(first, "shared-name"), "assistant")
    await put(first, feedback_url("shared-name", reply), {"rating": "down", "comment": "mine"})

    rated = await put(second, feedback_url("shared-name", reply), {"rating": "up"})
    cleared = await second.delete(feedback_url("shared-name", reply))

    assert rated.status_code == 404 and cleared.status_code == 404
    stored = await Feedback.objects.aget()
    assert stored.rating == "down" and stored.comment == "mine"
    # The second owner's own conversation of that name shows none of it.
    await talk(second, "shared-name")
    assert (await second.get("/chat/session/shared-name")).json()["feedback"] == []


async def test_deleting_the_conversation_deletes_its_feedback(client):
    reply = position_of(await talk(client, "fb-6"), "assistant")
    await put(client, feedback_url("fb-6", reply), {"rating": "up"})

    assert (await client.delete("/chat/session/fb-6")).status_code == 200

    assert await Conversation.objects.acount() == 0
    assert await Feedback.objects.acount() == 0


async def test_claimed_conversations_bring_their_feedback_into_the_account(django_user_model):
    browser = AsyncClient()
    assert (await browser.get("/")).status_code == 200  # the page marks the browser
    reply = position_of(await talk(browser, "fb-claim"), "assistant")
    await put(browser, feedback_url("fb-claim", reply), {"rating": "up"})
    user = await sync_to_async(django_user_model.objects.create_user)("ada", password="pw-12345x")
    await browser.aforce_login(user)

    claimed = await browser.post("/conversations/claim", content_type="application/json")

    assert claimed.json()["count"] == 1
    stored = await Feedback.objects.aget()
    assert stored.owner_key == f"user:{user.pk}"
    assert (await browser.get("/chat/session/fb-claim")).json()["feedback"][0]["rating"] == "up"


async def test_a_history_page_carries_the_feedback_on_its_own_items_only(client):
    first = position_of(await talk(client, "fb-pages", "first question"), "assistant")
    second = position_of(await talk(client, "fb-pages", "second question"), "assistant")
    await put(client, feedback_url("fb-pages", first), {"rating": "down"})
    await put(client, feedback_url("fb-pages", second), {"rating": "up"})

    latest = (await client.get("/chat/session/fb-pages?limit=2")).json()
    older = (await client.get(f"/chat/session/fb-pages?before={latest['next_before']}")).json()

    assert latest["item_positions"] == [second - 1, second]
    assert [(f["position"], f["rating"]) for f in latest["feedback"]] == [(second, "up")]
    assert [(f["position"], f["rating"]) for f in older["feedback"]] == [(first, "down")]
