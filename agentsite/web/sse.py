"""Server-Sent Events: encoding, heartbeats, resumable ids, and the streaming response.

Each event is a single ``data: <json>`` line and a blank line, with no ``event:`` line, so a
browser's ``EventSource.onmessage`` fires for every event (the FastAPI app's clients rely on it).
An ``id: <run_id>:<seq>`` line lets a client resume with ``Last-Event-ID``; a comment line every
SSE_HEARTBEAT_SECONDS keeps proxies from closing a stream while the model is silent.

Only an event's own blank line ever ends a block. Popular clients (httpx-sse,
@microsoft/fetch-event-source) hand a block with no ``data:`` line — a ``retry:``-only or a
comment-only one — to the application as an event with empty data, and a ``json.loads`` loop
crashes on it. So the ``retry:`` line and each heartbeat comment go out as lines of their own
(sent at once: the retry hint also flushes the headers, the heartbeat keeps the connection busy)
and become part of the next event's block, where every parser ignores them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse

from agentsite.errors import BadRequest, translate_error
from agentsite.web.protocols.base import StreamEncoder
from agentsite.web.protocols.native import NativeEncoder

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx buffers proxied responses unless told not to; SSE must reach the client per event.
    "X-Accel-Buffering": "no",
}
HEARTBEAT = b": keep-alive\n"
_DONE = object()


def sse_openapi(description: str, data: str, event_id: str = "<run_id>:<seq>") -> dict[str, Any]:
    """The OpenAPI ``openapi_extra`` of an SSE endpoint. OpenAPI 3.1 tools read a
    text/event-stream ``schema`` (3.2 an ``itemSchema``) as one event's fields, not the stream
    as one string."""
    event = {
        "type": "object",
        "properties": {
            "data": {"type": "string", "description": data},
            "id": {"type": "string", "description": event_id},
            "event": {"type": "string"},
            "retry": {"type": "integer"},
        },
    }
    content = {"text/event-stream": {"schema": event}}
    return {"responses": {200: {"description": description, "content": content}}}


MAX_SEQ_DIGITS = 18


def parse_last_event_id(value: str | None, run_id: uuid.UUID) -> int:
    """``<run_id>:<seq>`` (or a bare ``<seq>``) → seq; 0 when absent."""
    if not value:
        return 0
    run_part, _, seq_part = value.strip().rpartition(":")
    if run_part and run_part != str(run_id):
        raise BadRequest("Last-Event-ID belongs to another run")
    # ASCII digits only: str.isdigit() also accepts "²" or "١", which int() refuses or reads.
    if not (seq_part.isascii() and seq_part.isdigit() and len(seq_part) <= MAX_SEQ_DIGITS):
        raise BadRequest("Last-Event-ID must look like '<run_id>:<seq>'")
    return int(seq_part)


def sse_response(
    events: AsyncIterator[tuple[int, dict[str, Any]]],
    run_id: uuid.UUID,
    on_close: Callable[[], Awaitable[None]] | None = None,
    encoder: StreamEncoder | None = None,
) -> StreamingHttpResponse:
    """Stream numbered events, as the native protocol unless another ``encoder`` is given
    (``agentsite.web.protocols``); ``on_close`` runs when the stream ends, however it ends
    (the client going away included)."""
    encoding: StreamEncoder = encoder or NativeEncoder(run_id)

    async def body() -> AsyncIterator[bytes]:
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for numbered in events:
                    await queue.put(numbered)
            except Exception as exc:  # surfaced to the client as the stream's last event
                await queue.put(exc)
            finally:
                await queue.put(_DONE)

        pumping = asyncio.create_task(pump())
        try:
            yield f"retry: {settings.SSE_RETRY_MS}\n".encode() + encoding.opening()
            while True:
                try:
                    async with asyncio.timeout(settings.SSE_HEARTBEAT_SECONDS):
                        item = await queue.get()
                except TimeoutError:
                    yield HEARTBEAT
                    continue
                data, finished = _encode_burst(item, queue, encoding)
                if data:
                    yield data
                if finished:
                    return
        finally:
            pumping.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.shield(_drain(pumping))
            if on_close is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.shield(on_close())

    response = StreamingHttpResponse(body(), content_type="text/event-stream; charset=utf-8")
    for header, value in {**SSE_HEADERS, **encoding.headers}.items():
        response[header] = value
    response["X-Run-Id"] = str(run_id)
    return response


def _encode_burst(
    item: Any, queue: asyncio.Queue[Any], encoder: StreamEncoder
) -> tuple[bytes, bool]:
    """Encode ``item`` and whatever else is already queued, so a burst of deltas goes out in
    one write (one ASGI message) rather than one per delta; also say whether the stream ended."""
    chunk: list[bytes] = []
    while True:
        if item is _DONE:
            chunk.append(encoder.closing())
            return b"".join(chunk), True
        if isinstance(item, Exception):
            chunk += [encoder.failure(translate_error(item)), encoder.closing()]
            return b"".join(chunk), True
        seq, event = item
        chunk.append(encoder.encode(seq, event))
        if queue.empty():
            return b"".join(chunk), False
        item = queue.get_nowait()


async def _drain(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await task
