"""ASGI entry point: HTTP through Django, WebSockets through Channels' URL router.

Request bodies are limited before Django reads them (``agentsite.body_limit``); every
WebSocket gets flow control and frame limits (``agentsite.ws_flow``).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentsite.settings")
# Django must be set up before anything imports models (consumers, routing).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from agentsite.body_limit import BodySizeLimit  # noqa: E402
from agentsite.routing import websocket_urlpatterns  # noqa: E402
from agentsite.ws_flow import WebSocketFlowControl  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(django_asgi_app),
        "websocket": WebSocketFlowControl(
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
