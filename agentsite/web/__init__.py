"""Transport only: HTTP (the ninja API and SSE), WebSockets and the pages, over the run service.

``api`` is the site's one NinjaAPI (imported by the URLconf, not here: it mounts the routers of
every registered agent); ``routes`` the per-agent HTTP routes and every run's routes; ``sse``
Server-Sent Events; ``protocols`` the client protocols (native, AI SDK UI message stream,
AG-UI) as encoders; ``consumers`` the WebSocket consumer of runs (agents', research's);
``owners`` who a request acts for (the one rule, ``resolve_owner``), ``security`` the API's auth
classes over it (``request_owner`` reads what they found); the middleware modules keep the API's
error contract, size limits, CORS and origins.
"""

from agentsite.web.consumers import RunConsumer
from agentsite.web.owners import Owner, owner_for_request, owner_for_scope, resolve_owner
from agentsite.web.routes import agent_router
from agentsite.web.security import request_owner
from agentsite.web.sse import sse_response

__all__ = [
    "Owner",
    "RunConsumer",
    "agent_router",
    "owner_for_request",
    "owner_for_scope",
    "request_owner",
    "resolve_owner",
    "sse_response",
]
