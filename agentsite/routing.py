"""WebSocket URL routes of every agent app, gathered for the ASGI router."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
