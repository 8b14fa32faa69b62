"""Mount the shared WebSocket consumer for this app's agents at ``ws/chat/`` and
``ws/assistant/``."""

from django.urls import URLPattern

from agentsite.web.consumers import agent_websocket_path
from chat.urls import ASSISTANT, CHAT

websocket_urlpatterns: list[URLPattern] = [
    agent_websocket_path(CHAT),
    agent_websocket_path(ASSISTANT),
]
