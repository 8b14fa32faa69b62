"""Client protocols over the one durable run (DESIGN.md §8): each is an encoder of the run's
wire events (``StreamEncoder``) plus its request parser and routes.

- ``native``: the wire events as they are (§5), for ``/stream``, resume and WebSocket clients;
- ``ai_sdk`` / ``ai_sdk_http``: the AI SDK UI message stream v1 at ``/{agent}/ui/chat``;
- ``ag_ui`` / ``ag_ui_http``: AG-UI at ``/{agent}/ag-ui``.

A new protocol is an encoder module and a routes module whose ``add_routes(router, spec)``
``agentsite.web.routes.PROTOCOL_ROUTES`` lists. (The routes modules are not imported here: they
use ``agentsite.web.sse``, which uses the encoders.)
"""

from __future__ import annotations

from agentsite.web.protocols.base import StreamEncoder
from agentsite.web.protocols.native import NativeEncoder

__all__ = ["NativeEncoder", "StreamEncoder"]
