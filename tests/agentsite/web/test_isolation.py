"""Owners never see each other's conversations or runs: two users, two API keys, two browsers.

Another owner's session id is simply empty in your namespace; another owner's run id is a 404
for every verb (status, resume, cancel), never a 403.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from agentsite.models import Conversation, Run
from agentsite.web.apikeys import generate_api_key
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)


class BearerClient(AsyncClient):
    """An AsyncClient that sends an API key with every request (its ``headers=`` constructor
    argument does not reach ASGI requests in Django 5.2)."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def generic(self, *args, headers=None, **kwargs):  # type: ignore[no-untyped-def]
        headers = {**(headers or {}), "Authorization": f"Bearer {self.key}"}
        return super().generic(*args, headers=headers, **kwargs)


async def two_key_clients() -> tuple[AsyncClient, AsyncClient]:
    _, first = await sync_to_async(generate_api_key)("first")
    _, second = await sync_to_async(generate_api_key)("second")
    return BearerClient(first), BearerClient(second)


async def two_user_clients(django_user_model) -> tuple[AsyncClient, AsyncClient]:
    clients = []
    for name in ("alice", "bob"):
        user = await sync_to_async(django_user_model.objects.create_user)(
            name, password="pw-12345x"
        )
        client = AsyncClient()
        await client.aforce_login(user)
        clients.append(client)
    return clients[0], clients[1]


async def two_browsers() -> tuple[AsyncClient, AsyncClient]:
    first, second = AsyncClient(), AsyncClient()
    for browser in (first, second):
        assert (await browser.get("/")).status_code == 200  # the page marks the browser
    return first, second


async def stream_turn(client: AsyncClient, text: str, session_id: str) -> tuple[str, list[dict]]:
    response = await client.post(
        "/chat/stream", {"input": text, "session_id": session_id}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    raw = b"".join([chunk async for chunk in response.streaming_content])
    return response["X-Run-Id"], parse_sse(raw)


@pytest.fixture(params=["api_keys", "users", "browsers"])
async def owners(request, django_user_model):
    if request.param == "api_keys":
        return await two_key_clients()
    if request.param == "users":
        return await two_user_clients(django_user_model)
    return await two_browsers()


async def test_owners_are_isolated(owners):
    mine, theirs = owners
    run_id, events = await stream_turn(mine, "My secret is 42.", "same-id")
    assert events[-1]["type"] == "stream_complete"

    # Read: the same session id is a different, empty conversation for the other owner.
    other_view = (await theirs.get("/chat/session/same-id")).json()
    assert other_view["messages"] == []
    assert (await theirs.get("/chat/sessions")).json()["total"] == 0
    assert (await mine.get("/chat/sessions")).json()["total"] == 1

    # Runs: status, resume and cancel of another owner's run are all 404.
    for method, path in (
        ("get", f"/chat/runs/{run_id}"),
        ("get", f"/chat/runs/{run_id}/stream"),
        ("post", f"/chat/runs/{run_id}/cancel"),
    ):
        kwargs = {"content_type": "application/json"} if method == "post" else {}
        response = await getattr(theirs, method)(path, **kwargs)
        assert response.status_code == 404, (path, response.content)
        assert response.json()["success"] is False
    assert (await mine.get(f"/chat/runs/{run_id}")).json()["status"] == "completed"

    # Delete and stream on "their" same-id touch only their own namespace.
    assert (await theirs.delete("/chat/session/same-id")).status_code == 200
    _, their_events = await stream_turn(theirs, "Tell me the secret.", "same-id")
    assert "My secret is 42." not in their_events[-1]["final_output"]
    mine_after = (await mine.get("/chat/session/same-id")).json()
    assert mine_after["message_count"] == 2
    assert mine_after["messages"][0]["content"] == "My secret is 42."

    owners_in_db = {c.owner_key async for c in Conversation.objects.all()}
    assert len(owners_in_db) == 2
    assert await Run.objects.acount() == 2


async def test_browsers_differ_from_the_anonymous_api_namespace():
    browser, _ = await two_browsers()
    api_client = AsyncClient()
    await stream_turn(api_client, "Anonymous API turn", "shared")
    assert (await browser.get("/chat/session/shared")).json()["messages"] == []
    assert (await AsyncClient().get("/chat/session/shared")).json()["message_count"] == 2
