"""Transport only: HTTP (the ninja API and SSE), WebSockets and the pages, over the run service.

``api`` is the site's one NinjaAPI (imported by the URLconf, not here: it mounts the routers of
every registered agent); ``routes`` the per-agent HTTP routes and every run's routes; ``sse``
Server-Sent Events; ``consumers`` the WebSocket consumer of runs (agents', research's);
``owners`` who a request acts for; the middleware modules keep the API's error contract, size
limits, CORS and origins.
"""

from agentsite.web.consumers import RunConsumer
from agentsite.web.owners import Owner, owner_for_request, owner_for_scope
from agentsite.web.routes import agent_router
from agentsite.web.sse import sse_response

__all__ = [
    "Owner",
    "RunConsumer",
    "agent_router",
    "owner_for_request",
    "owner_for_scope",
    "sse_response",
]
