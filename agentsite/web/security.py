"""The API's authentication as django-ninja auth classes, like ``ninja.security``.

They are the API's default ``auth`` (``agentsite.web.api``), so every operation lists them in
``/openapi.json`` (``components.securitySchemes`` and each operation's ``security``) and every
view finds the caller's ``Owner`` in ``request.auth`` (``request_owner``). ninja tries them in
order and the first that answers wins: an API key, the logged-in user, the marked browser,
nobody. Each only says what its own scheme carries and leaves the decision to
``agentsite.web.owners.resolve_owner``, the rule the WebSocket consumers apply too, so the two
transports cannot disagree on who a caller is.

CSRF: the API's views are CSRF-exempt (scripts with keys use them), so the cookie schemes do not
use ninja's CSRF-token check; they apply the API's own rule instead, ``check_json_content_type``
(a cookie-authenticated POST must declare JSON). Authentication runs before the body is parsed,
so a refused caller learns nothing about its body.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from agentsite.errors import Unauthorized
from agentsite.web.owners import (
    ANONYMOUS,
    Credentials,
    Owner,
    bearer_token,
    check_json_content_type,
    request_user,
    resolve_owner,
)

COOKIE_POST_RULE = "A POST with this cookie must send `Content-Type: application/json` (else 415)."


class ApiKeyBearer(HttpBearer):
    """``Authorization: Bearer <key>``: the key's own namespace."""

    openapi_bearerFormat = "ask_<43 URL-safe characters>"
    openapi_description = (
        "An API key staff issue in the admin (API keys → Add), as `Authorization: Bearer <key>`. "
        "An unknown or revoked key is a 401, and so is an `Authorization` header of any other "
        "scheme (HTTP Basic aside, which a proxy in front may send and is ignored)."
    )

    def __call__(self, request: HttpRequest) -> Any:
        # Unlike ninja's HttpBearer, another scheme is refused (``bearer_token`` raises), never
        # passed on to the anonymous namespace.
        token = bearer_token(request.headers.get(self.header))
        if token is None:
            return None
        return self.authenticate(request, token)

    async def authenticate(self, request: HttpRequest, token: str) -> Owner:
        return await resolve_owner(Credentials(api_key=token))


class _SessionCookie(APIKeyCookie):
    """A scheme carried by Django's session cookie, which a browser attaches on its own."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=False)  # the API's CSRF rule is check_json_content_type

    async def authenticate(self, request: HttpRequest, key: str | None) -> Owner | None:
        # Django's middleware has read the cookie already: ``request.session``, ``auser``.
        owner = await self.cookie_owner(request)
        if owner is not None:
            check_json_content_type(request, owner)
        return owner

    async def cookie_owner(self, request: HttpRequest) -> Owner | None:
        raise NotImplementedError


class DjangoUser(_SessionCookie):
    """A logged-in Django user: the user's own namespace."""

    openapi_description = (
        "The session cookie of a logged-in Django user (/accounts/login/). " + COOKIE_POST_RULE
    )

    async def cookie_owner(self, request: HttpRequest) -> Owner | None:
        user = await request_user(request)
        if user is None or not user.is_authenticated:
            return None
        return await resolve_owner(Credentials(user=user))


class MarkedBrowser(_SessionCookie):
    """A browser a web-UI page was served to: that browser's own namespace."""

    openapi_description = (
        "The session cookie of a browser the site served a web-UI page to: its conversations "
        "are its own. Not accepted with REQUIRE_API_KEY. " + COOKIE_POST_RULE
    )

    async def cookie_owner(self, request: HttpRequest) -> Owner | None:
        owner = await resolve_owner(Credentials(session=getattr(request, "session", None)))
        # An unmarked (or expired) session proves nothing: the next scheme decides.
        return None if owner == ANONYMOUS else owner


class Anonymous:
    """No credentials: the shared anonymous namespace (the FastAPI app's behaviour), or a 401
    with REQUIRE_API_KEY. Not an ``AuthBase``: OpenAPI has no scheme for "none", so the schema
    lists it as the empty requirement ``{}`` (``document_keyless_access``)."""

    async def __call__(self, request: HttpRequest) -> Owner:
        return await resolve_owner(Credentials())


CALLER_AUTH: list[Any] = [ApiKeyBearer(), DjangoUser(), MarkedBrowser(), Anonymous()]


def request_owner(request: HttpRequest) -> Owner:
    """The owner the auth classes found for this request (``request.auth``)."""
    owner = getattr(request, "auth", None)
    if not isinstance(owner, Owner):
        raise Unauthorized()
    return owner


def document_keyless_access(schema: dict[str, Any]) -> dict[str, Any]:
    """Finish the ``security`` ninja writes for each operation from the current settings.

    Without REQUIRE_API_KEY a caller may present nothing at all: OpenAPI says so with the empty
    requirement ``{}``. With it, a marked browser is refused, so that scheme is not offered.
    """
    refused = {MarkedBrowser.__name__} if settings.REQUIRE_API_KEY else set()
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            security = operation.get("security") if isinstance(operation, dict) else None
            if not security:
                continue
            kept = [requirement for requirement in security if not refused & requirement.keys()]
            operation["security"] = kept if settings.REQUIRE_API_KEY else [*kept, {}]
    schemes = schema.get("components", {}).get("securitySchemes", {})
    for name in refused:
        schemes.pop(name, None)
    return schema
