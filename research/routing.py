"""The research WebSocket route, ``ws/research/`` (gathered by ``agentsite.web.routing``)."""

from django.urls import URLPattern, re_path

from research.consumers import ResearchConsumer

websocket_urlpatterns: list[URLPattern] = [re_path(r"^ws/research/?$", ResearchConsumer.as_asgi())]
