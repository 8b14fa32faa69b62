"""Which Host and Origin a WebSocket handshake may carry.

Browsers attach a site's cookies to a WebSocket handshake from any page of the same *site*, and
a site is looser than an origin: another port or scheme on the same host (``http://host:3000``,
the plain-HTTP page of an HTTPS site) counts, and so does any page once the session cookie is
``SameSite=None``. No CORS protects a socket: the page reads whatever the server sends. So the
server decides from the handshake's ``Origin``, comparing whole origins (scheme, host, port) by
the rules the HTTP API follows through CSRF and CORS:

- the site's own origin (the connection's scheme, the Host it was asked for) and
  ``CSRF_TRUSTED_ORIGINS``: any caller;
- ``CORS_ALLOWED_ORIGINS``: callers with a key, anonymous callers, and cookie-authenticated ones
  only with ``CORS_ALLOW_CREDENTIALS`` — the pages that may read the HTTP API, with the same
  credentials;
- any other origin: only a caller with an API key (the key, not the browser, is the proof);
- no ``Origin`` at all: not a browser, so nobody else's cookies; any caller.

The Host is checked against ``ALLOWED_HOSTS`` first, as Django checks it for HTTP: otherwise a
DNS-rebinding page, whose own origin is the host it names, would pass as the site itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from agentsite.errors import Forbidden

# The hosts Django itself accepts with DEBUG on and ALLOWED_HOSTS empty (HttpRequest.get_host).
DEBUG_HOSTS = [".localhost", "127.0.0.1", "[::1]"]


class ForeignOrigin(Forbidden):
    message = (
        "This page's origin may not open a socket with this site's cookies or without a key; "
        "list it in CSRF_TRUSTED_ORIGINS (or CORS_ALLOWED_ORIGINS), or send an API key"
    )


def header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


def requested_host(scope: Mapping[str, Any]) -> str:
    """The Host the client asked for (with its port), or the server's address without one."""
    host = header(scope, b"host")
    if host is None:
        name, port = scope.get("server") or ("", None)
        host = name if str(port) in ("None", "80", "443") else f"{name}:{port}"
    return host.strip().lower()


def host_allowed(scope: Mapping[str, Any]) -> bool:
    """``HttpRequest.get_host``'s rule: the Host's domain must match ``ALLOWED_HOSTS``."""
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = DEBUG_HOSTS
    domain, _ = split_domain_port(requested_host(scope))
    return bool(domain) and validate_host(domain, allowed)


def is_secure(scope: Mapping[str, Any]) -> bool:
    """``HttpRequest.is_secure`` for a socket: ``SECURE_PROXY_SSL_HEADER`` when the proxy sent
    it (daphne does not put the forwarded scheme in a WebSocket scope), else ``wss``."""
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        name = meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        forwarded = header(scope, name)
        if forwarded is not None:
            return forwarded.split(",")[0].strip() == secure_value
    return scope.get("scheme") in ("wss", "https")


def site_origin(scope: Mapping[str, Any]) -> str:
    return f"{'https' if is_secure(scope) else 'http'}://{requested_host(scope)}"


def csrf_trusted(origin: str) -> bool:
    """``CsrfViewMiddleware``'s rule: an exact origin, or ``scheme://*.domain`` for its
    subdomains."""
    parsed = urlsplit(origin)
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        trusted = normalized_origin(trusted)
        if trusted == origin:
            return True
        pattern = urlsplit(trusted)
        if (
            pattern.netloc.startswith("*")
            and pattern.scheme == parsed.scheme
            and is_same_domain(parsed.netloc, pattern.netloc[1:])
        ):
            return True
    return False


def normalized_origin(origin: str) -> str:
    """An origin as compared: people write them with capitals or a trailing slash in
    environment variables; browsers send them lower-case and without one."""
    return origin.strip().rstrip("/").lower()


def cors_listed(origin: str) -> bool:
    """Whether a normalized ``origin`` is in CORS_ALLOWED_ORIGINS; the wildcard never matches."""
    return bool(origin) and any(
        origin == normalized_origin(allowed)
        for allowed in settings.CORS_ALLOWED_ORIGINS
        if allowed != "*"
    )


def check_socket_origin(scope: Mapping[str, Any], via_cookie: bool) -> None:
    """Raise ``ForeignOrigin`` unless a caller without a key (``via_cookie``: identified by the
    browser's cookies; else anonymous) may use this socket from the handshake's Origin."""
    origin = header(scope, b"origin")
    if origin is None:
        return
    origin = normalized_origin(origin)
    if origin == site_origin(scope) or csrf_trusted(origin):
        return
    if cors_listed(origin) and (settings.CORS_ALLOW_CREDENTIALS or not via_cookie):
        return
    raise ForeignOrigin()


class AllowedHostsMiddleware:
    """Refuses a WebSocket handshake whose Host is not in ``ALLOWED_HOSTS`` (HTTP 403 on the
    wire), as Django answers such an HTTP request with 400."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: Mapping[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not host_allowed(scope):
            denier = WebsocketDenier.as_asgi()
            # types-channels want asgiref's TypedDict scopes; Channels hands on this dict as is.
            return await denier(scope, receive, send)  # type: ignore[arg-type]
        return await self.application(scope, receive, send)
