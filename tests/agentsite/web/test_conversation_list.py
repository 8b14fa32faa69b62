"""The caller's conversations across agents: newest first, searched server-side, renamed, and
claimed from a browser into the account its visitor logs in to."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from agentsite.models import Conversation, Run
from tests.agentsite.web.test_isolation import two_key_clients

pytestmark = pytest.mark.django_db(transaction=True)


async def say(client: AsyncClient, agent: str, session_id: str, text: str) -> None:
    response = await client.post(
        f"/{agent}/run", {"input": text, "session_id": session_id}, content_type="application/json"
    )
    assert response.status_code == 200, response.content


async def listed(client: AsyncClient, query: str = "", path: str = "/conversations") -> list:
    response = await client.get(path, {"q": query} if query else {})
    assert response.status_code == 200, response.content
    return [(row["agent"], row["session_id"]) for row in response.json()["sessions"]]


async def test_one_list_across_agents_newest_first(client):
    await say(client, "chat", "c-1", "first, with chat")
    await say(client, "assistant", "a-1", "second, with the assistant")
    await say(client, "chat", "c-2", "third, with chat again")
    assert await listed(client) == [("chat", "c-2"), ("assistant", "a-1"), ("chat", "c-1")]
    rows = (await client.get("/conversations")).json()["sessions"]
    assert rows[0]["title"] == "third, with chat again"
    assert {"created_at", "updated_at", "item_count", "active"} <= set(rows[0])
    # The per-agent list is the same rows for one agent.
    assert await listed(client, path="/chat/sessions") == [("chat", "c-2"), ("chat", "c-1")]


async def test_search_reads_what_was_said_not_the_json(client):
    await say(client, "chat", "nurse", "I work as a nurse in Zürich")
    await say(client, "assistant", "calc", "Please calculate 6*7")
    await say(client, "chat", "other", "Nothing to see here")
    assert await listed(client, "nurse") == [("chat", "nurse")]
    assert await listed(client, "ZÜRICH") == [("chat", "nurse")]
    # Text of the assistant's answer (the tool's result) is searched too.
    assert await listed(client, "42") == [("assistant", "calc")]
    # Every word must match; words only in the stored JSON's keys match nothing.
    assert await listed(client, "nurse calculate") == []
    assert await listed(client, "role") == []
    assert await listed(client, "content") == []
    assert await listed(client, "nurse", path="/assistant/sessions") == []
    assert (await client.get("/conversations", {"q": "x" * 201})).status_code == 422


async def test_search_sees_only_the_callers_conversations():
    first, second = await two_key_clients()
    await say(first, "chat", "mine", "pineapple secrets")
    assert await listed(first, "pineapple") == [("chat", "mine")]
    assert await listed(second, "pineapple") == []
    assert await listed(second) == []


async def test_rename(client):
    await say(client, "chat", "r-1", "an automatic title")
    response = await client.patch(
        "/chat/session/r-1", {"title": "  Holiday plans  "}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    rows = (await client.get("/conversations")).json()["sessions"]
    assert rows[0]["title"] == "Holiday plans"
    assert await listed(client, "holiday") == [("chat", "r-1")]
    for bad in ({"title": ""}, {"title": "   "}, {"title": "x" * 201}, {}):
        response = await client.patch("/chat/session/r-1", bad, content_type="application/json")
        assert response.status_code == 422, bad
    missing = await client.patch(
        "/chat/session/nope", {"title": "x"}, content_type="application/json"
    )
    assert missing.status_code == 404
    # Another owner cannot rename it: it does not exist for them.
    first, _ = await two_key_clients()
    other = await first.patch("/chat/session/r-1", {"title": "x"}, content_type="application/json")
    assert other.status_code == 404


async def test_session_read_has_item_times_and_runs(client):
    await say(client, "assistant", "meta", "Please calculate 2*(3+4)")
    body = (await client.get("/assistant/session/meta")).json()
    assert len(body["item_times"]) == len(body["messages"]) > 0
    [run] = body["runs"]
    assert run["status"] == "completed" and run["model"] == "offline"
    assert run["usage"]["total_tokens"] > 0


async def test_a_browser_claims_its_conversations_after_logging_in(django_user_model):
    browser = AsyncClient()
    assert (await browser.get("/")).status_code == 200  # the page marks the browser
    await say(browser, "chat", "before-login", "said before logging in")
    await say(browser, "assistant", "before-login-2", "Please calculate 1+1")
    user = await sync_to_async(django_user_model.objects.create_user)("ada", password="pw-12345x")
    await browser.aforce_login(user)
    assert await listed(browser) == []
    assert (await browser.get("/conversations/claimable")).json()["count"] == 2
    refused = await browser.post("/conversations/claim")  # a form could send this: no JSON
    assert refused.status_code == 415
    claimed = await browser.post("/conversations/claim", content_type="application/json")
    assert claimed.status_code == 200 and claimed.json()["count"] == 2
    assert set(await listed(browser)) == {("chat", "before-login"), ("assistant", "before-login-2")}
    assert (await browser.get("/conversations/claimable")).json()["count"] == 0
    owner = f"user:{user.pk}"
    assert await Run.objects.filter(owner_key=owner).acount() == 2
    assert await Conversation.objects.filter(owner_key=owner).acount() == 2
    # Visitors not logged in, and key callers, have nothing to claim.
    anonymous = AsyncClient()
    assert (await anonymous.get("/conversations/claimable")).json()["count"] == 0
    nothing = await anonymous.post("/conversations/claim", content_type="application/json")
    assert nothing.status_code == 404
