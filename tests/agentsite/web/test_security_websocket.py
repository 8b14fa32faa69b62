"""WebSocket hardening: whole-origin checks for callers without a key, the Host checked against
ALLOWED_HOSTS, and credentials checked again on every run/cancel/resume frame."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from agentsite.asgi import application
from agentsite.web.apikeys import generate_api_key, revoke
from agentsite.web.consumers import CLOSE_UNAUTHORIZED

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 5.0
SITE = "http://testserver"
CLOSE_FORBIDDEN = 4403  # the documented close code (agentsite.web.consumers.CLOSE_FORBIDDEN)


async def browser_cookie() -> bytes:
    """The session cookie of a browser the chat page has marked as its own owner."""
    client = AsyncClient()
    assert (await client.get("/")).status_code == 200
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return f"{settings.SESSION_COOKIE_NAME}={value}".encode()


async def user_cookie(username: str = "ada") -> tuple[bytes, Any]:
    user = await get_user_model().objects.acreate(username=username)
    client = AsyncClient()
    await client.aforce_login(user)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    return f"{settings.SESSION_COOKIE_NAME}={value}".encode(), user


def handshake(
    origin: str | None = SITE,
    cookie: bytes | None = None,
    host: str = "testserver",
    path: str = "/ws/chat/",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> WebsocketCommunicator:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, path, headers=headers + (extra or []))


async def outcome(communicator: WebsocketCommunicator) -> str | int:
    """ "open" when the socket is usable (answers a ping), else the close code it got."""
    accepted, code = await communicator.connect(TIMEOUT)
    if not accepted:
        await communicator.disconnect(timeout=TIMEOUT)
        return f"refused:{code}"
    await communicator.send_json_to({"type": "ping"})
    first = await communicator.receive_json_from(TIMEOUT)
    if first == {"type": "pong"}:
        await communicator.disconnect(timeout=TIMEOUT)
        return "open"
    close = await communicator.receive_output(TIMEOUT)
    await communicator.disconnect(timeout=TIMEOUT)
    assert first["type"] == "error" and first["status"] == close["code"] - 4000
    return close["code"]


# --- Origin: whole origins, not host names


@pytest.mark.parametrize(
    "origin",
    ["http://testserver:3000", "https://testserver", "http://evil.example", "null"],
)
async def test_cookie_socket_from_another_origin_is_refused_with_4403(origin):
    assert await outcome(handshake(origin, await browser_cookie())) == CLOSE_FORBIDDEN


async def test_logged_in_socket_from_another_port_is_refused():
    cookie, _ = await user_cookie()
    assert await outcome(handshake("http://testserver:8001", cookie)) == CLOSE_FORBIDDEN
    assert await outcome(handshake(SITE, cookie)) == "open"


async def test_wildcard_allowed_hosts_does_not_let_any_origin_in(settings):
    settings.ALLOWED_HOSTS = ["*"]
    cookie = await browser_cookie()
    assert await outcome(handshake("http://evil.example", cookie)) == CLOSE_FORBIDDEN
    assert await outcome(handshake(SITE, cookie)) == "open"


async def test_the_site_origin_follows_the_connection_scheme_and_the_proxy_header():
    cookie = await browser_cookie()
    behind_tls = [(b"x-forwarded-proto", b"https")]
    assert await outcome(handshake("https://testserver", cookie, extra=behind_tls)) == "open"
    assert await outcome(handshake(SITE, cookie, extra=behind_tls)) == CLOSE_FORBIDDEN


async def test_csrf_trusted_origins_may_use_cookies(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://agents.example.com", "https://*.corp.example"]
    cookie = await browser_cookie()
    assert await outcome(handshake("https://agents.example.com", cookie)) == "open"
    assert await outcome(handshake("https://app.corp.example", cookie)) == "open"
    assert await outcome(handshake("http://agents.example.com", cookie)) == CLOSE_FORBIDDEN


async def test_cors_origins_use_cookies_only_with_credentials_allowed(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    cookie = await browser_cookie()
    assert await outcome(handshake("https://app.example.com")) == "open"  # anonymous
    assert await outcome(handshake("https://app.example.com", cookie)) == CLOSE_FORBIDDEN
    settings.CORS_ALLOW_CREDENTIALS = True
    assert await outcome(handshake("https://app.example.com", cookie)) == "open"


async def test_a_key_is_accepted_from_any_origin_and_anonymous_only_from_the_site():
    _, raw = await sync_to_async(generate_api_key)("widget")
    keyed = handshake("http://evil.example", path=f"/ws/chat/?api_key={raw}")
    assert await outcome(keyed) == "open"
    assert await outcome(handshake("http://evil.example")) == CLOSE_FORBIDDEN
    assert await outcome(handshake(SITE)) == "open"


async def test_no_origin_is_not_a_browser_and_may_use_its_own_cookies():
    assert await outcome(handshake(None, await browser_cookie())) == "open"


async def test_a_host_outside_allowed_hosts_is_refused_at_the_handshake():
    assert await outcome(handshake("http://evil.example", host="evil.example")) == "refused:1000"


# --- credentials checked again on every frame that acts


async def revoked_socket(path: str = "/ws/chat/") -> WebsocketCommunicator:
    """A socket opened with a key that is revoked once it is open."""
    key, raw = await sync_to_async(generate_api_key)("soon revoked")
    communicator = handshake(
        path=path, extra=[(b"authorization", f"Bearer {raw}".encode())], origin=None
    )
    accepted, _ = await communicator.connect(TIMEOUT)
    assert accepted
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(TIMEOUT) == {"type": "pong"}
    await sync_to_async(revoke)(key)
    return communicator


async def expect_401_close(communicator: WebsocketCommunicator) -> None:
    error = await communicator.receive_json_from(TIMEOUT)
    close = await communicator.receive_output(TIMEOUT)
    await communicator.disconnect(code=CLOSE_UNAUTHORIZED, timeout=TIMEOUT)
    assert (error["type"], error["status"]) == ("error", 401)
    assert close == {"type": "websocket.close", "code": CLOSE_UNAUTHORIZED}


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "run", "input": "hello", "session_id": "revoked-1"},
        {"type": "cancel", "run_id": str(uuid.uuid4())},
        {"type": "resume", "run_id": str(uuid.uuid4())},
    ],
)
async def test_a_key_revoked_while_its_socket_is_open_is_refused(frame):
    communicator = await revoked_socket()
    await communicator.send_json_to(frame)
    await expect_401_close(communicator)


async def test_a_revoked_key_starts_no_run():
    from agentsite.models import Run

    communicator = await revoked_socket()
    await communicator.send_json_to({"type": "run", "input": "hello", "session_id": "revoked-2"})
    await expect_401_close(communicator)
    assert await Run.objects.acount() == 0


async def test_a_research_socket_with_a_revoked_key_is_refused():
    communicator = await revoked_socket("/ws/research/")
    await communicator.send_json_to({"type": "run", "query": "anything"})
    await expect_401_close(communicator)


async def test_a_user_deactivated_while_their_socket_is_open_is_refused():
    cookie, user = await user_cookie("grace")
    communicator = handshake(SITE, cookie)
    assert (await communicator.connect(TIMEOUT))[0]
    user.is_active = False
    await user.asave()
    await communicator.send_json_to({"type": "run", "input": "hi", "session_id": "gone-1"})
    await expect_401_close(communicator)
