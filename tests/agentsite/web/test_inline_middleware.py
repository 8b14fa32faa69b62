"""Django's middleware runs inline under the site's handler (no thread hop) unless a hook has
I/O to do: a modified session, stored messages or a form's CSRF check still go through a
thread. settings.MIDDLEWARE keeps naming Django's own classes, for `check --deploy`."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.models import Session
from django.test import AsyncClient
from django.test.client import AsyncClientHandler

from agentsite.web import inline_middleware
from agentsite.web.handler import InlineMiddlewareLoading

pytestmark = pytest.mark.django_db(transaction=True)


class SiteClientHandler(InlineMiddlewareLoading, AsyncClientHandler):
    """Django's test handler, building its middleware chain as the site's handler does."""


def site_client(enforce_csrf_checks: bool = False) -> AsyncClient:
    client = AsyncClient(enforce_csrf_checks=enforce_csrf_checks)
    client.handler = SiteClientHandler(enforce_csrf_checks)
    return client


@pytest.fixture
def async_client() -> AsyncClient:
    """The site's middleware chain (the default test client loads Django's classes)."""
    return site_client()


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


def test_settings_name_djangos_classes_and_the_site_runs_their_inline_forms():
    from agentsite.asgi import django_asgi_app

    assert "django.middleware.security.SecurityMiddleware" in settings.MIDDLEWARE
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    assert "django.middleware.clickjacking.XFrameOptionsMiddleware" in settings.MIDDLEWARE
    assert not any("inline_middleware" in path for path in settings.MIDDLEWARE)
    [csrf_check] = django_asgi_app._view_middleware
    assert isinstance(csrf_check.__self__, inline_middleware.InlineCsrfViewMiddleware)
    chain = inline_middleware.inline_stack(settings.MIDDLEWARE)
    assert len(chain) == len(settings.MIDDLEWARE)
    assert sum("inline_middleware" in path for path in chain) == len(inline_middleware.INLINE_FORMS)


async def test_security_headers_are_set_inline(async_client, thread_hops):
    response = await async_client.get("/chat/info")

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert thread_hops == []


async def test_a_form_post_is_checked_for_its_csrf_token_in_a_thread(thread_hops):
    """The admin's login form: refused without the token, accepted with it; the check may parse
    the form body, so it goes to a thread."""
    client = site_client(enforce_csrf_checks=True)
    refused = await client.post("/admin/login/", {"username": "x", "password": "y"})
    assert refused.status_code == 403
    assert thread_hops == ["InlineCsrfViewMiddleware.process_view"]

    page = await client.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token is not None
    accepted = await client.post(
        "/admin/login/",
        {"username": "x", "password": "y", "csrfmiddlewaretoken": token.group(1)},
    )
    assert accepted.status_code == 200  # the form again, with "enter a correct username"
    assert "correct username" in accepted.content.decode()


def test_the_django_version_whose_middleware_loading_it_relies_on():
    """``InlineMiddlewareLoading`` relies on Django's ``load_middleware`` reading
    settings.MIDDLEWARE and on ``MiddlewareMixin.__acall__`` being what the inline hooks
    replace (house style: pin what a framework internal relies on)."""
    import inspect

    import django
    from django.core.handlers.base import BaseHandler
    from django.utils.deprecation import MiddlewareMixin

    assert django.VERSION[:2] == (5, 2)
    assert "settings.MIDDLEWARE" in inspect.getsource(BaseHandler.load_middleware)
    assert "process_request" in inspect.getsource(MiddlewareMixin.__acall__)
