"""The site's ASGI handler: Django's, with settings.MIDDLEWARE loaded in its inline form.

``check --deploy`` and the admin's checks recognise Django's middleware only by the dotted paths
in settings.MIDDLEWARE, so those name Django's own classes; the handler that serves requests
loads each through ``inline_stack`` instead (agentsite.web.inline_middleware: the same hooks,
with no thread hop unless a hook does I/O). Django reads settings.MIDDLEWARE inside
``load_middleware`` and takes no list of its own, so the inline list stands in for it while the
chain is built (once, when the handler is made, before it serves anything).
"""

from __future__ import annotations

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

from agentsite.web.inline_middleware import inline_stack


class InlineMiddlewareLoading:
    """Mixin for a Django handler: builds its middleware chain from ``inline_stack``."""

    def load_middleware(self, is_async: bool = False) -> None:
        declared = settings.MIDDLEWARE
        # Only the async chain: a sync handler would run the inline hooks' coroutines through
        # async_to_sync, which is what the originals avoid.
        settings.MIDDLEWARE = inline_stack(declared) if is_async else declared
        try:
            super().load_middleware(is_async=is_async)  # type: ignore[misc]
        finally:
            settings.MIDDLEWARE = declared


class SiteASGIHandler(InlineMiddlewareLoading, ASGIHandler):
    pass
