"""CORS for the JSON/SSE API: browsers on the origins in ``CORS_ALLOWED_ORIGINS`` may call it.

Deliberately small instead of a dependency: the API needs exactly one policy (a fixed origin
list, the same methods and headers everywhere). The response always names the caller's exact
origin, never ``*``: a wildcard cannot be combined with credentials, and an explicit list is the
only safe way to let cookie-carrying browsers of other sites in. Origins outside the list get no
CORS headers at all, so their browsers refuse to hand the response to the page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.decorators import sync_and_async_middleware

from agentsite.middleware import is_api_path

ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
# Last-Event-ID: a fetch-based SSE client resuming a run sends it itself.
ALLOW_HEADERS = "Authorization, Content-Type, Last-Event-ID"
# Headers a cross-origin page may read; the run id is what it needs to resume or cancel a run.
EXPOSE_HEADERS = "X-Run-Id"
# Browsers cap this anyway (Chromium: 2 h); an hour saves a preflight per call.
PREFLIGHT_MAX_AGE = "3600"


def cors_configuration_errors(origins: Iterable[str]) -> list[str]:
    """What is wrong with an origin list, as sentences; empty when it is usable."""
    if "*" in origins:
        return [
            'CORS_ALLOWED_ORIGINS must not contain "*": list the exact origins '
            "(https://app.example.com) that may call the API from a browser"
        ]
    return []


def check_cors_settings(**kwargs: object) -> list[CheckMessage]:
    """System check (``manage.py check``) for the same mistake the middleware refuses at load."""
    return [
        Error(message, id="agentsite.E001")
        for message in cors_configuration_errors(settings.CORS_ALLOWED_ORIGINS)
    ]


def allowed_origin(origin: str) -> bool:
    """Whether ``origin`` is listed. Compared case-insensitively and without a trailing slash,
    because that is how people write origins in environment variables, not how browsers send
    them; the wildcard never matches."""
    wanted = origin.strip().rstrip("/").lower()
    return bool(wanted) and any(
        wanted == allowed.strip().rstrip("/").lower()
        for allowed in settings.CORS_ALLOWED_ORIGINS
        if allowed != "*"
    )


def is_preflight(request: HttpRequest) -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def preflight_response(request: HttpRequest) -> HttpResponse:
    """204 for every preflight on an API path: the CORS headers, present only for a listed
    origin, are what grants or denies; the view is never reached (ninja would answer 405)."""
    response = HttpResponse(status=204)
    origin = request.headers.get("Origin", "")
    if allowed_origin(origin):
        _grant(response, origin)
        response["Access-Control-Allow-Methods"] = ALLOW_METHODS
        response["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    patch_vary_headers(response, ("Origin",))
    return response


def add_cors_headers(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Grant a listed origin access to an API response. ``Vary: Origin`` goes on every API
    response once CORS is on, so a cache never serves one origin's answer to another."""
    if not settings.CORS_ALLOWED_ORIGINS or not is_api_path(request.path):
        return response
    origin = request.headers.get("Origin", "")
    if allowed_origin(origin):
        _grant(response, origin)
        response["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    patch_vary_headers(response, ("Origin",))
    return response


def _grant(response: HttpResponse, origin: str) -> None:
    response["Access-Control-Allow-Origin"] = origin
    if settings.CORS_ALLOW_CREDENTIALS:
        response["Access-Control-Allow-Credentials"] = "true"


@sync_and_async_middleware
def CorsMiddleware(get_response: Callable) -> Callable:
    """Answer API preflights and add CORS headers to API responses (errors included, so a
    cross-origin page can read why a call failed). Refuses to load with ``"*"`` listed, which
    stops the server at startup rather than on the first request."""
    problems = cors_configuration_errors(settings.CORS_ALLOWED_ORIGINS)
    if problems:
        raise ImproperlyConfigured(problems[0])

    def short_circuit(request: HttpRequest) -> HttpResponse | None:
        if settings.CORS_ALLOWED_ORIGINS and is_preflight(request) and is_api_path(request.path):
            return preflight_response(request)
        return None

    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            response = short_circuit(request) or await get_response(request)
            return add_cors_headers(request, response)

    else:

        def middleware(request: HttpRequest) -> HttpResponse:  # type: ignore[misc]
            response = short_circuit(request) or get_response(request)
            return add_cors_headers(request, response)

    return middleware
