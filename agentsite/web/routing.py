"""WebSocket URL routes of every agent app, gathered for the ASGI router.

Each installed app that has a ``routing`` module contributes its ``websocket_urlpatterns``, as
Django's admin discovers ``admin`` modules, so a new agent app only declares its routes. A
catch-all comes last: Channels' router raises on an unmatched path, which would log a traceback
for every stray client; the catch-all refuses the handshake instead.
"""

from importlib import import_module

from django.apps import apps
from django.urls import URLPattern
from django.utils.module_loading import module_has_submodule

from agentsite.web.consumers import no_route_path


def gather_websocket_urlpatterns() -> list[URLPattern]:
    patterns: list[URLPattern] = []
    for app in apps.get_app_configs():
        if app.name == __package__ or not module_has_submodule(app.module, "routing"):
            continue
        module = import_module(f"{app.name}.routing")
        patterns.extend(getattr(module, "websocket_urlpatterns", ()))
    return [*patterns, no_route_path()]


websocket_urlpatterns: list[URLPattern] = gather_websocket_urlpatterns()
