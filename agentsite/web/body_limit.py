"""MAX_REQUEST_BYTES enforced while a request body arrives, at the ASGI layer.

Django reads a whole body into a temporary file before any middleware runs, and its own limit
(DATA_UPLOAD_MAX_MEMORY_SIZE) only fires once a view reads the body — for a chunked body as a
400 with a "suspicious operation" traceback. This wrapper sits between the server and Django:
a ``Content-Length`` over the limit is answered 413 before a byte of the body is read, and a
body of unknown length is counted as its chunks arrive and answered 413 as soon as the count
passes the limit, without reading the rest. Django sees the refusal as a client that went
away, so nothing is logged as an error.

It can only refuse early under a server that hands the body over in chunks as it arrives
(uvicorn, hypercorn, granian). Daphne reads the whole body before the application starts; there
the limit still answers 413, but only after daphne has buffered the body. In production, the
proxy in front should refuse large bodies first (nginx ``client_max_body_size``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings

# As django-stubs type Django's ASGIHandler, the application this wraps.
Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def too_large_message(length: int | None) -> str:
    limit = settings.MAX_REQUEST_BYTES
    if length is None:
        return f"Request body too large: over the limit of {limit} bytes"
    return f"Request body too large: {length} bytes, limit {limit}"


class BodySizeLimit:
    """ASGI middleware for ``http`` scopes; other scopes pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = settings.MAX_REQUEST_BYTES
        length = declared_length(scope)
        if length is not None and length > limit:
            await send_too_large(send, too_large_message(length))
            return
        received = 0
        refused = False
        responded = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # To the application the client is gone (Django drops the request quietly);
                    # the 413 is answered below, and the rest of the body is never read.
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def watching_send(message: Message) -> None:
            nonlocal responded
            if refused:
                return
            responded = True
            await send(message)

        await self.app(scope, counting_receive, watching_send)
        if refused and not responded:
            await send_too_large(send, too_large_message(None))


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``, or None when absent or not a plain number (the server
    has refused a malformed one already, or Django answers it 400)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else None
    return None


TOO_LARGE_CODE = "payload_too_large"


async def send_too_large(send: Send, message: str) -> None:
    body = json.dumps({"success": False, "error": message, "code": TOO_LARGE_CODE}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body will not be read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
