"""The research WebSocket route, ``ws/research/`` (gathered by ``agentsite.web.routing``)."""

from django.urls import URLPattern, re_path

from research.consumers import ResearchConsumer

websocket_urlpatterns: list[URLPattern] = [
    # django-stubs type re_path's target as a Django view; Channels routes ASGI apps with it.
    re_path(r"^ws/research/?$", ResearchConsumer.as_asgi())  # type: ignore[arg-type]
]
