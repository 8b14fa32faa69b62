"""Django's session, common, auth and messages middleware run inline (no thread hop) unless a
hook has I/O to do: a modified session or stored messages still go through a thread."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.models import Session

from agentsite.web import inline_middleware

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the hooks the inline middleware sent to a thread."""
    hops: list[str] = []
    real = inline_middleware.sync_to_async

    def recording(function: Any, **kwargs: Any) -> Any:
        hops.append(f"{type(function.__self__).__name__}.{function.__name__}")
        return real(function, **kwargs)

    monkeypatch.setattr(inline_middleware, "sync_to_async", recording)
    return hops


async def test_an_api_request_makes_no_thread_hop(async_client, thread_hops):
    response = await async_client.get("/chat/info")

    assert response.status_code == 200
    assert thread_hops == []


async def test_an_api_request_does_not_build_the_messages_storage(async_client, monkeypatch):
    """Building it costs a cookie signer per request; only pages that use messages pay."""
    built: list[object] = []
    real = FallbackStorage.__init__

    def counting(self: FallbackStorage, request: Any, *args: Any, **kwargs: Any) -> None:
        built.append(request.path)
        real(self, request, *args, **kwargs)

    monkeypatch.setattr(FallbackStorage, "__init__", counting)
    response = await async_client.post(
        "/chat/run", {"input": "hi"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert built == []

    page = await async_client.get("/admin/login/")  # its template reads the messages
    assert page.status_code == 200
    assert built == ["/admin/login/"]


async def test_a_page_that_saves_the_session_still_saves_it(async_client, thread_hops):
    """The chat page marks the browser in its session: that save is a database write."""
    response = await async_client.get("/")

    assert response.status_code == 200
    assert thread_hops == ["InlineSessionMiddleware.process_response"]
    key = response.cookies["sessionid"].value
    assert await Session.objects.filter(session_key=key).aexists()
    again = await async_client.get("/")
    assert again.status_code == 200
    assert "sessionid" not in again.cookies, "an unchanged session is not saved again"


async def test_admin_messages_are_stored_and_shown(async_client, admin_user, thread_hops):
    """Messages (stored in the session/cookie at the end of a request) survive the redirect."""
    await async_client.aforce_login(admin_user)
    response = await async_client.post(
        "/admin/auth/user/add/",
        {"username": "ada", "password1": "x-Secret-123456", "password2": "x-Secret-123456"},
        follow=True,
    )

    assert response.status_code == 200
    assert "was added successfully" in response.content.decode()
    assert "InlineMessageMiddleware.process_response" in thread_hops
