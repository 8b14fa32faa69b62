"""Who a request acts for: API keys, logged-in users, marked browsers, the anonymous namespace,
over HTTP requests and Channels WebSocket scopes; and the cookie-CSRF content-type check."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import alogin, get_user_model
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest
from django.test import AsyncRequestFactory, RequestFactory

from agentsite.errors import Unauthorized, UnsupportedMediaType
from agentsite.web.apikeys import generate_api_key, revoke
from agentsite.web.owners import (
    BROWSER_SESSION_KEY,
    Owner,
    amark_browser,
    check_json_content_type,
    owner_for_request,
    owner_for_scope,
)

pytestmark = pytest.mark.django_db(transaction=True)
agenerate = sync_to_async(generate_api_key)


def with_middleware(request: HttpRequest, session_key: str | None = None) -> HttpRequest:
    """What Django's session and auth middleware give a view: ``request.session``/``auser``."""
    if session_key:
        request.COOKIES[settings.SESSION_COOKIE_NAME] = session_key
    SessionMiddleware(lambda r: None).process_request(request)
    AuthenticationMiddleware(lambda r: None).process_request(request)
    return request


def api_request(
    session_key: str | None = None, authorization: str | None = None, **extra
) -> HttpRequest:
    headers = {"Authorization": authorization} if authorization is not None else {}
    request = AsyncRequestFactory().post("/chat/run", headers=headers, **extra)
    return with_middleware(request, session_key)


async def marked_browser() -> str:
    """Load a web-UI page in a new browser; returns its session cookie."""
    request = with_middleware(RequestFactory().get("/"))
    await amark_browser(request)
    assert request.session.session_key
    return request.session.session_key


async def logged_in(username: str) -> tuple[str, object]:
    """Log a new user in; returns the session cookie and the user."""
    user = await get_user_model().objects.acreate(username=username)
    request = api_request()
    await alogin(request, user, backend="django.contrib.auth.backends.ModelBackend")
    await request.session.asave()
    return request.session.session_key, user


# --- HTTP


async def test_no_credentials_is_the_shared_anonymous_namespace():
    assert await owner_for_request(api_request()) == Owner("anonymous", via_cookie=False)


async def test_api_key_owns_its_namespace():
    key, raw = await agenerate("ci")
    owner = await owner_for_request(api_request(authorization=f"Bearer {raw}"))
    assert owner == Owner(f"key:{key.pk}", via_cookie=False)
    lowercase = await owner_for_request(api_request(authorization=f"bearer  {raw} "))
    assert lowercase.key == f"key:{key.pk}"


@pytest.mark.parametrize("authorization", ["Bearer ask_wrong", "Bearer ", "Bearer"])
async def test_bad_key_is_unauthorized_never_anonymous(authorization):
    with pytest.raises(Unauthorized):
        await owner_for_request(api_request(authorization=authorization))


async def test_revoked_key_is_unauthorized():
    key, raw = await agenerate("ci")
    await sync_to_async(revoke)(key)
    with pytest.raises(Unauthorized) as error:
        await owner_for_request(api_request(authorization=f"Bearer {raw}"))
    assert error.value.status == 401


async def test_bad_key_wins_over_a_logged_in_session():
    session_key, _ = await logged_in("alice")
    with pytest.raises(Unauthorized):
        await owner_for_request(api_request(session_key, authorization="Bearer ask_wrong"))


async def test_other_authorization_schemes_are_ignored():
    owner = await owner_for_request(api_request(authorization="Basic dXNlcjpwYXNz"))
    assert owner.key == "anonymous"


async def test_logged_in_user():
    session_key, user = await logged_in("alice")
    owner = await owner_for_request(api_request(session_key))
    assert owner == Owner(f"user:{user.pk}", via_cookie=True)


async def test_api_key_wins_over_a_logged_in_session():
    session_key, _ = await logged_in("alice")
    key, raw = await agenerate("ci")
    owner = await owner_for_request(api_request(session_key, authorization=f"Bearer {raw}"))
    assert owner.key == f"key:{key.pk}" and not owner.via_cookie


async def test_marked_browsers_are_isolated_and_stable():
    first, second = await marked_browser(), await marked_browser()
    owner_first = await owner_for_request(api_request(first))
    owner_second = await owner_for_request(api_request(second))
    assert owner_first.key.startswith("browser:") and owner_first.via_cookie
    assert owner_second.key.startswith("browser:")
    assert owner_first != owner_second
    assert await owner_for_request(api_request(first)) == owner_first
    # The owner key is stored and shown in the admin; it must not be the session credential.
    assert first not in owner_first.key


async def test_marking_again_keeps_the_namespace_and_survives_key_rotation():
    session_key = await marked_browser()
    before = await owner_for_request(api_request(session_key))
    request = with_middleware(RequestFactory().get("/"), session_key)
    await amark_browser(request)
    await request.session.acycle_key()
    after = await owner_for_request(api_request(request.session.session_key))
    assert request.session.session_key != session_key
    assert after == before


async def test_async_mark_browser():
    request = with_middleware(AsyncRequestFactory().get("/"))
    await amark_browser(request)
    owner = await owner_for_request(api_request(request.session.session_key))
    assert owner.key == f"browser:{await request.session.aget(BROWSER_SESSION_KEY)}"


async def test_unmarked_or_unknown_session_is_anonymous():
    store = SessionStore()
    await store.aset("something", "else")
    await store.asave()
    assert (await owner_for_request(api_request(store.session_key))).key == "anonymous"
    assert (await owner_for_request(api_request("no-such-session-key"))).key == "anonymous"


async def test_require_api_key(settings):
    settings.REQUIRE_API_KEY = True
    with pytest.raises(Unauthorized):
        await owner_for_request(api_request())
    with pytest.raises(Unauthorized):
        await owner_for_request(api_request(await marked_browser()))
    key, raw = await agenerate("ci")
    assert (await owner_for_request(api_request(authorization=f"Bearer {raw}"))).key == (
        f"key:{key.pk}"
    )
    session_key, user = await logged_in("alice")
    assert (await owner_for_request(api_request(session_key))).key == f"user:{user.pk}"


async def test_require_api_key_off_lets_keyless_clients_in(settings):
    settings.REQUIRE_API_KEY = False
    assert (await owner_for_request(api_request())).key == "anonymous"


# --- WebSocket scopes


def scope(
    headers: list[tuple[bytes, bytes]] | None = None,
    query_string: bytes = b"",
    user: object | None = None,
    session: object | None = None,
) -> dict:
    return {
        "type": "websocket",
        "path": "/ws/chat/",
        "headers": headers or [],
        "query_string": query_string,
        "user": user if user is not None else AnonymousUser(),
        "session": session if session is not None else SessionStore(),
    }


async def test_scope_key_from_header():
    key, raw = await agenerate("ci")
    owner = await owner_for_scope(scope(headers=[(b"authorization", f"Bearer {raw}".encode())]))
    assert owner == Owner(f"key:{key.pk}", via_cookie=False)


async def test_scope_key_from_query_string():
    key, raw = await agenerate("ci")
    owner = await owner_for_scope(scope(query_string=f"x=1&api_key={raw}".encode()))
    assert owner.key == f"key:{key.pk}"


async def test_scope_header_wins_over_query_string():
    key, raw = await agenerate("ci")
    owner = await owner_for_scope(
        scope(
            headers=[(b"Authorization", f"Bearer {raw}".encode())],
            query_string=b"api_key=ask_other",
        )
    )
    assert owner.key == f"key:{key.pk}"


@pytest.mark.parametrize(
    ("headers", "query_string"),
    [
        ([(b"authorization", b"Bearer ask_wrong")], b""),
        ([], b"api_key=ask_wrong"),
        ([], b"api_key="),
    ],
)
async def test_scope_bad_key_is_unauthorized(headers, query_string):
    with pytest.raises(Unauthorized):
        await owner_for_scope(scope(headers=headers, query_string=query_string))


async def test_scope_user_and_browser_and_anonymous(settings):
    user = await get_user_model().objects.acreate(username="bob")
    assert await owner_for_scope(scope(user=user)) == Owner(f"user:{user.pk}", via_cookie=True)

    browser = await owner_for_scope(scope(session=SessionStore(await marked_browser())))
    assert browser.key.startswith("browser:") and browser.via_cookie

    assert (await owner_for_scope(scope())).key == "anonymous"
    settings.REQUIRE_API_KEY = True
    with pytest.raises(Unauthorized):
        await owner_for_scope(scope())


async def test_scope_through_channels_auth_stack():
    """The real stack: the session cookie on the handshake, the lazy scope session and user."""
    seen: list[Owner] = []

    class Probe(AsyncWebsocketConsumer):
        async def connect(self) -> None:
            seen.append(await owner_for_scope(self.scope))
            await self.accept()

    session_key = await marked_browser()
    cookie = f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()
    expected = await owner_for_request(api_request(session_key))
    communicator = WebsocketCommunicator(
        AuthMiddlewareStack(Probe.as_asgi()), "/ws/chat/", headers=[(b"cookie", cookie)]
    )
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    assert connected
    assert seen == [expected]


# --- CSRF: cookie-authenticated POSTs must be JSON


COOKIE_OWNER = Owner("browser:abc", via_cookie=True)
KEY_OWNER = Owner("key:1", via_cookie=False)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
def test_cookie_post_that_is_not_json_is_refused(content_type):
    request = RequestFactory().post("/chat/run", data=b"{}", content_type=content_type)
    with pytest.raises(UnsupportedMediaType) as error:
        check_json_content_type(request, COOKIE_OWNER)
    assert error.value.status == 415


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8"])
def test_cookie_post_with_json_passes(content_type):
    request = RequestFactory().post("/chat/run", data=b"{}", content_type=content_type)
    assert check_json_content_type(request, COOKIE_OWNER) is None


def test_keyed_and_anonymous_posts_and_cookie_reads_are_not_checked():
    form = RequestFactory().post("/chat/run", data=b"x", content_type="text/plain")
    assert check_json_content_type(form, KEY_OWNER) is None
    assert check_json_content_type(form, Owner("anonymous")) is None
    assert check_json_content_type(RequestFactory().get("/chat/info"), COOKIE_OWNER) is None
    assert check_json_content_type(RequestFactory().delete("/chat/session/x"), COOKIE_OWNER) is None
