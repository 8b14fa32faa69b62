"""Server-Sent Events: encoding and the streaming response.

Each event is a single ``data: <json>`` line and a blank line, with no ``event:`` line, so a
browser's ``EventSource.onmessage`` fires for every event (the FastAPI app's clients rely on it).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from django.http import StreamingHttpResponse

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx buffers proxied responses unless told not to; SSE must reach the client per event.
    "X-Accel-Buffering": "no",
}


def encode_sse(event: dict[str, Any], event_id: str | None = None) -> bytes:
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    prefix = f"id: {event_id}\n" if event_id is not None else ""
    return f"{prefix}data: {data}\n\n".encode()


def sse_response(events: AsyncIterator[dict[str, Any]]) -> StreamingHttpResponse:
    async def body() -> AsyncIterator[bytes]:
        async for event in events:
            yield encode_sse(event)

    response = StreamingHttpResponse(body(), content_type="text/event-stream; charset=utf-8")
    for header, value in SSE_HEADERS.items():
        response[header] = value
    return response
