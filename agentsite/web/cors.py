"""CORS for the JSON/SSE API through django-cors-headers, with this site's policy on top.

The library adds the headers (``CORS_ALLOWED_ORIGINS``, ``CORS_ALLOW_CREDENTIALS`` and the
method, header and expose lists in settings); this subclass keeps what the site promises beyond
its defaults:

- API paths only (``is_api_path``, the one definition of an API path), and nothing at all — not
  even ``Vary: Origin`` — while no origin is listed;
- ``"*"`` refused when the middleware loads, so the server stops at start-up: a wildcard cannot
  go with credentials, and an explicit list is the only safe way to let other sites in;
- origins compared case-insensitively and without a trailing slash, as people write them in
  environment variables (the rule the WebSocket origin check shares: ``origins.cors_listed``);
- a preflight answered 204, granted or not: the headers, present only for a listed origin, are
  what grants; the view is never reached (ninja would answer 405).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import SplitResult

from corsheaders.middleware import CorsMiddleware as LibraryCorsMiddleware
from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from agentsite.web.middleware import is_api_path
from agentsite.web.origins import cors_listed, normalized_origin


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


class CorsMiddleware(LibraryCorsMiddleware):
    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        problems = cors_configuration_errors(settings.CORS_ALLOWED_ORIGINS)
        if problems:
            raise ImproperlyConfigured(problems[0])
        super().__init__(get_response)

    def is_enabled(self, request: HttpRequest) -> bool:
        return bool(settings.CORS_ALLOWED_ORIGINS) and is_api_path(request.path)

    def origin_found_in_white_lists(self, origin: str, url: SplitResult) -> bool:
        return cors_listed(normalized_origin(origin))

    def check_preflight(self, request: HttpRequest) -> HttpResponseBase | None:
        response = super().check_preflight(request)
        if response is not None:
            response.status_code = 204
            del response["Content-Length"]
        return response
