"""WebSocket URL routes for the ASGI router, mounted from the agent registry.

Every agent the apps declared (``agentsite.registry``) gets the shared consumer at
``ws/{slug}/``, and every app endpoint with a consumer gets it at ``ws/{prefix}/``: the same
declarations the HTTP routes are mounted from, so the two transports cannot disagree on what
exists. A catch-all comes last: Channels' router raises on an unmatched path, which would log a
traceback for every stray client; the catch-all refuses the handshake instead.
"""

import re

from channels.consumer import AsyncConsumer
from django.apps import apps
from django.urls import URLPattern, re_path
from django.utils.module_loading import import_string

from agentsite.registry import AppEndpoint, all_endpoints, all_specs
from agentsite.web.consumers import agent_websocket_path, no_route_path


def endpoint_websocket_path(endpoint: AppEndpoint) -> URLPattern:
    """The route of an app endpoint's own consumer: ``ws/{prefix}/`` (slash optional)."""
    assert endpoint.consumer is not None
    consumer: type[AsyncConsumer] = import_string(endpoint.consumer)
    # django-stubs type re_path's target as a Django view; Channels routes ASGI apps with it.
    return re_path(rf"^ws/{re.escape(endpoint.prefix)}/?$", consumer.as_asgi())  # type: ignore[arg-type]


def gather_websocket_urlpatterns() -> list[URLPattern]:
    apps.check_apps_ready()
    patterns = [agent_websocket_path(spec) for spec in all_specs()]
    patterns += [endpoint_websocket_path(e) for e in all_endpoints() if e.consumer is not None]
    return [*patterns, no_route_path()]


websocket_urlpatterns: list[URLPattern] = gather_websocket_urlpatterns()
