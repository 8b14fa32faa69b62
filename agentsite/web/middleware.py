"""Middleware that keeps the API's error contract for what happens outside the views."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import sync_and_async_middleware
from django.views import defaults

from agentsite.web.body_limit import TOO_LARGE_CODE, too_large_message

HTML_PREFIXES = ("/admin/", "/static/", "/accounts/")


def is_api_path(path: str) -> bool:
    return path != "/" and not path.startswith(HTML_PREFIXES) and path not in ("/docs", "/redoc")


def json_error(status: int, message: str, code: str | None = None) -> JsonResponse:
    """The API's error shape; ``code`` defaults to the status's name (``not_found``)."""
    if code is None:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "error"
        code = phrase.lower().replace(" ", "_").replace("-", "_")
    return JsonResponse({"success": False, "error": message, "code": code}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler400``: what Django answers for a ``SuspiciousOperation`` raised outside a view,
    above all ``DisallowedHost`` from the common middleware, which runs before
    ``JsonErrorMiddleware`` could convert anything. API paths get the JSON error shape; pages
    keep Django's. The rejected Host is not echoed back (Django's log line names it)."""
    if not is_api_path(request.path):
        return defaults.bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        return json_error(400, "Bad request: this site does not serve that Host")
    return json_error(400, "Bad request")


@sync_and_async_middleware
def RequestSizeLimitMiddleware(get_response: Callable) -> Callable:
    """Refuse a declared length over MAX_REQUEST_BYTES with 413 before anything reads the body.

    The server-facing guard is ``agentsite.web.body_limit`` (it also counts bodies of unknown
    length as they arrive); this one covers Django's handler called without it (the test
    client, WSGI)."""

    def too_large(request: HttpRequest) -> HttpResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error(400, "Invalid Content-Length header")
        if length > settings.MAX_REQUEST_BYTES:
            return json_error(413, too_large_message(length), TOO_LARGE_CODE)
        return None

    if _is_async(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            return too_large(request) or await get_response(request)

    else:

        def middleware(request: HttpRequest) -> HttpResponse:  # type: ignore[misc]
            return too_large(request) or get_response(request)

    return middleware


@sync_and_async_middleware
def JsonErrorMiddleware(get_response: Callable) -> Callable:
    """Django's own 404/405/500 pages are HTML; API clients get the JSON error shape instead."""

    def convert(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code < 400 or not is_api_path(request.path):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        status = response.status_code
        if status == 404:
            message = f"Not found: {request.method} {request.path}"
        elif status == 405:
            message = f"Method {request.method} not allowed on {request.path}"
        else:
            message = (
                HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
            )
        converted = json_error(status, message)
        if "Allow" in response:
            converted["Allow"] = response["Allow"]
        return converted

    if _is_async(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            return convert(request, await get_response(request))

    else:

        def middleware(request: HttpRequest) -> HttpResponse:  # type: ignore[misc]
            return convert(request, get_response(request))

    return middleware


def _is_async(get_response: Callable[..., HttpResponse | Awaitable[HttpResponse]]) -> bool:
    from asgiref.sync import iscoroutinefunction

    return iscoroutinefunction(get_response)
