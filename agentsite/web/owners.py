"""Who a request acts for: the namespace its conversations and runs live in.

Every conversation belongs to one owner key, and services only ever look things up within the
caller's key, so another owner's ids simply do not exist for it (a 404, never a 403). In order:

1. ``Authorization: Bearer <key>`` → ``key:<pk>``. A key that is presented but unknown or
   revoked is a 401, and so is an ``Authorization`` header of another scheme (``Token <key>``)
   or none: silently falling back to the anonymous namespace would hand a client with a
   mistyped key or header everybody's anonymous conversations. HTTP Basic alone is let
   through, as the header of a Basic-auth proxy in front of the site.
2. A logged-in Django user → ``user:<pk>``.
3. ``REQUIRE_API_KEY`` → 401 for everyone else.
4. A browser that a web-UI page marked (``amark_browser``) → ``browser:<id>``, so two anonymous
   browsers never see each other's history.
5. Otherwise the shared ``anonymous`` namespace, exactly as the FastAPI app behaved.

``resolve_owner`` is this rule, and the only code that applies it: the API's django-ninja auth
classes (``agentsite.web.security``, one per scheme, each handing it what its scheme carries),
``owner_for_request`` and the WebSocket consumers (``owner_for_scope``, ``reauthenticate_scope``)
all call it with the ``Credentials`` they found.

The browser id is a random value kept *in* the session rather than the session key itself:
owner keys are stored in plain columns and shown in the admin, and a session key there would be
a credential anyone with database access could replay as a cookie. The id also survives
``cycle_key``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest

from agentsite.errors import Unauthorized, UnsupportedMediaType
from agentsite.models import ANONYMOUS_OWNER
from agentsite.web.apikeys import authenticate_api_key
from agentsite.web.origins import check_socket_origin

# Session entry that makes a browser its own owner; its value is the browser's random id.
BROWSER_SESSION_KEY = "agentsite_browser_id"
# Authorization schemes that belong to a proxy in front of the site, not to the API.
PROXY_SCHEMES = frozenset({"basic"})
# WebSocket query parameter carrying an API key for clients that cannot set handshake headers.
API_KEY_QUERY_PARAM = "api_key"


@dataclass(frozen=True)
class Owner:
    """The namespace a caller acts in, and how it proved it.

    ``via_cookie`` is true when the identity came from a cookie the browser attaches on its own
    (Django login, browser session): only then can another site ride on it, so only then do
    CSRF defences (``check_json_content_type``) apply.
    """

    key: str
    via_cookie: bool = False


ANONYMOUS = Owner(ANONYMOUS_OWNER, via_cookie=False)


@dataclass(frozen=True)
class Credentials:
    """What a caller presented, however it arrived (HTTP request, WebSocket scope).

    ``api_key`` is None when no key was sent ("" when an empty one was: it is refused, not
    ignored); ``user`` is Django's user (anonymous or None when nobody is logged in);
    ``session`` is the session that may carry a browser's mark.
    """

    api_key: str | None = None
    user: Any = None
    session: Any = None


async def resolve_owner(credentials: Credentials) -> Owner:
    """The owner these credentials prove, by the rule in this module's docstring.

    Raises ``Unauthorized`` for an unknown or revoked key, and for a caller with neither key
    nor user when ``REQUIRE_API_KEY`` is on.
    """
    if credentials.api_key is not None:
        return await _key_owner(credentials.api_key)
    user = credentials.user
    if user is not None and user.is_authenticated:
        return Owner(f"user:{user.pk}", via_cookie=True)
    if settings.REQUIRE_API_KEY:
        raise Unauthorized()
    return await _browser_owner(credentials.session) or ANONYMOUS


async def owner_for_request(request: HttpRequest) -> Owner:
    """The owner of an HTTP request, every scheme at once: what the API's auth classes decide
    one scheme at a time. Raises ``Unauthorized`` for a bad key or a required one."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is not None:
        # The key decides alone: no session or user is loaded for a keyed request.
        return await resolve_owner(Credentials(api_key=token))
    user = await request_user(request)
    return await resolve_owner(Credentials(user=user, session=getattr(request, "session", None)))


async def request_user(request: HttpRequest) -> Any:
    """The request's Django user, or None where no authentication middleware ran."""
    auser = getattr(request, "auser", None)
    return await auser() if auser is not None else None


async def browser_behind_account(request: HttpRequest, owner: Owner) -> Owner | None:
    """The marked browser a logged-in user is using: its conversations from before the login
    may be claimed into the account. None for key callers and visitors not logged in."""
    if not owner.via_cookie or not owner.key.startswith("user:"):
        return None
    return await _browser_owner(getattr(request, "session", None))


async def owner_for_scope(scope: Mapping[str, Any]) -> Owner:
    """The owner of a Channels WebSocket connection (a scope after ``AuthMiddlewareStack``).

    The key may come from the handshake's ``Authorization`` header or, because browsers'
    ``WebSocket`` cannot set headers, from ``?api_key=<key>``. Prefer the header: a query string
    ends up in proxy and server access logs, so a key sent that way should be treated as exposed
    to whoever reads those logs. A key is accepted from any page; a caller without one only from
    the origins ``check_socket_origin`` allows (a ``Forbidden`` error otherwise), since no CORS
    stops a foreign page from reading a socket.
    """
    token = _scope_token(scope)
    credentials = Credentials(api_key=token, user=scope.get("user"), session=scope.get("session"))
    owner = await resolve_owner(credentials)
    if token is None:
        check_socket_origin(scope, owner.via_cookie)
    return owner


async def reauthenticate_scope(scope: Mapping[str, Any]) -> None:
    """Raise ``Unauthorized`` when the credential a socket was opened with no longer holds: its
    API key revoked, or its user deactivated, since the handshake. Sockets live for hours, so
    their frames are checked again, not only the handshake."""
    token = _scope_token(scope)
    if token is not None:
        await resolve_owner(Credentials(api_key=token))
        return
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        active = await get_user_model().objects.filter(pk=user.pk, is_active=True).aexists()
        if not active:
            raise Unauthorized("This account is no longer active")


async def amark_browser(request: HttpRequest) -> None:
    """Give this browser its own namespace; web-UI page views call it before serving the page.

    Only pages mark browsers, never API calls: a script without cookies would otherwise get a
    fresh namespace on every request and lose its conversation between turns. The session is
    saved now so it exists before the page's first API call.
    """
    session = request.session
    if not await session.aget(BROWSER_SESSION_KEY):
        await session.aset(BROWSER_SESSION_KEY, secrets.token_urlsafe(18))
    if session.session_key is None:
        await session.asave()


def check_json_content_type(request: HttpRequest, owner: Owner) -> None:
    """Refuse a cookie-authenticated POST whose body is not declared as JSON (415).

    The API's views are CSRF-exempt (they serve key-carrying scripts too), so this is the CSRF
    defence for browsers: another site can make a browser POST with its cookies only as a
    "simple" request — a form, or a ``fetch`` with a text/plain, form or multipart body, or none
    at all. ``application/json`` is not allowed in a simple request, so demanding it forces a CORS
    preflight, which a foreign origin fails. Bodiless POSTs (cancel) from the web UI must
    therefore send ``Content-Type: application/json`` too. Only POST needs it: DELETE/PUT/PATCH
    are never simple requests. Key-carrying and anonymous callers have no ambient credential to
    steal, so they are left alone.
    """
    if not owner.via_cookie or request.method != "POST":
        return
    if request.content_type != "application/json":
        raise UnsupportedMediaType()


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when there is no header.

    HTTP Basic also gives None: a Basic-auth proxy in front of the site forwards its own header
    with every request, and that must not turn every request into a 401. Any other header (a
    ``Token <key>`` scheme, a bare key, an empty value) raises ``Unauthorized``: the client
    meant to authenticate, and guessing would put it in the anonymous namespace. An empty
    bearer token is returned as "" so that it is refused, not ignored.
    """
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return token.strip()
    if scheme.lower() in PROXY_SCHEMES:
        return None
    # The header's text is not echoed: a bare key sent without a scheme would be the "scheme".
    raise Unauthorized("Unsupported Authorization header: send 'Authorization: Bearer <key>'")


async def _key_owner(token: str) -> Owner:
    key = await authenticate_api_key(token)
    if key is None:
        raise Unauthorized("Invalid or revoked API key")
    return Owner(key.owner_key, via_cookie=False)


async def _browser_owner(session: Any) -> Owner | None:
    """The marked browser behind ``session``; None without a session, a marker or a stored
    session (a cookie naming an expired session loads as empty and has no key)."""
    if session is None:
        return None
    browser_id = await session.aget(BROWSER_SESSION_KEY)
    if not browser_id or session.session_key is None:
        return None
    return Owner(f"browser:{browser_id}", via_cookie=True)


def _scope_token(scope: Mapping[str, Any]) -> str | None:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"authorization":
            token = bearer_token(value.decode("latin-1"))
            if token is not None:
                return token
    query = parse_qs((scope.get("query_string") or b"").decode("latin-1"), keep_blank_values=True)
    values = query.get(API_KEY_QUERY_PARAM)
    return values[0] if values else None
