"""Flow control for every WebSocket: a bounded outgoing queue, and a rate and size limit on
incoming frames.

Channels hands each frame a consumer sends straight to the ASGI server, and a consumer may
send many (a run's events, a replay, one answer per frame received) to a client that reads
none of them: the frames would pile up in the server for as long as the socket lives. This
middleware sits between the server and every WebSocket application (agents and research) and
owns what the server is handed:

- **Outgoing**: frames go through a per-socket queue that a writer task hands to the server one
  at a time, waiting while the server's own buffer is full (uvicorn, hypercorn and granian make
  ``send`` wait for the client). When the queue holds more than WS_MAX_PENDING_BYTES, the client
  has fallen too far behind: the queue is dropped, the socket is closed with code 4408 and the
  application is told the client left (a run it started then follows its ``on_disconnect``).
  Daphne, the development server, never makes ``send`` wait: it buffers every frame itself
  (Twisted's transport), so there only the incoming limits below bound what a socket can cost.
- **Incoming**: frames are read as they arrive (so the server's own queue stays short) and
  checked before the application sees them: one over WS_MAX_FRAME_BYTES is answered with an
  ``error`` event (status 413) and close code 4413; more than WS_FRAME_BURST frames at once, or
  more than WS_FRAMES_PER_SECOND sustained (a token bucket), with an ``error`` event (status
  429) and close code 4429.

Close codes are 4000 + the HTTP status of the same condition, like the consumers' 4401 and
4404: 4408 (the client did not take what it was sent in time), 4413, 4429.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings

from agentsite.runs.events import error_event

logger = logging.getLogger(__name__)

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

CLOSE_TOO_SLOW = 4408
CLOSE_FRAME_TOO_LARGE = 4413
CLOSE_TOO_MANY_FRAMES = 4429
# How long a closing socket may take to hand its last frames and its close to the server
# once the application has finished; a client that reads nothing does not get longer.
CLOSE_WAIT_SECONDS = 10.0
# The message the reader puts in the application's queue in place of a frame it refuses.
REFUSE = "agentsite.websocket.refuse"


class WebSocketFlowControl:
    """ASGI middleware for ``websocket`` scopes; other scopes pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        await FlowControlledSocket(receive, send).serve(self.app, scope)


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; each frame takes one."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class FlowControlledSocket:
    def __init__(self, receive: Receive, send: Send) -> None:
        self.server_receive = receive
        self.server_send = send
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: deque[Message] = deque()
        self.pending_bytes = 0
        self.queued = asyncio.Event()
        # Once a close is on its way, later frames of the application are dropped.
        self.closing = False
        self.finished = False
        self.frames = TokenBucket(settings.WS_FRAMES_PER_SECOND, settings.WS_FRAME_BURST)
        self.writer: asyncio.Task[None] | None = None
        self.closer: asyncio.Future[None] | None = None

    async def serve(self, app: ASGIApp, scope: MutableMapping[str, Any]) -> None:
        reader = asyncio.create_task(self.read())
        self.writer = asyncio.create_task(self.write())
        try:
            await app(scope, self.receive, self.send)
        finally:
            reader.cancel()
            self.finished = True
            self.queued.set()
            ending = [task for task in (self.writer, self.closer) if task is not None]
            _, late = await asyncio.wait(ending, timeout=CLOSE_WAIT_SECONDS)
            for task in (reader, *late):
                task.cancel()
            for task in (reader, *ending):
                with contextlib.suppress(BaseException):
                    await task

    # --- outgoing ---------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        """The application's ``send``: queue the message for the writer, at once."""
        if self.closing:
            return
        size = frame_size(message)
        # One frame alone may be bigger than the bound (a long final answer): it is what waits
        # behind it that says the client is not keeping up.
        if self.pending_bytes and self.pending_bytes + size > settings.WS_MAX_PENDING_BYTES:
            self.fell_behind()
            return
        if message["type"] == "websocket.close":
            self.closing = True
        self.outbox.append(message)
        self.pending_bytes += size
        self.queued.set()

    async def write(self) -> None:
        """Hand queued messages to the server one at a time, waiting as long as it makes us."""
        while True:
            while not self.outbox:
                if self.finished:
                    return
                self.queued.clear()
                await self.queued.wait()
            message = self.outbox.popleft()
            self.pending_bytes -= frame_size(message)
            try:
                await self.server_send(message)
            except Exception:
                # The server says the client is gone; its disconnect reaches the application.
                self.closing = True
                return
            if message["type"] == "websocket.close":
                return

    def fell_behind(self) -> None:
        """The client reads too slowly: drop what waits for it, close, let the application go.

        The close is handed to the server beside the frame the writer is stuck on (the server
        sends it once the client reads again, or drops the connection when the application
        has finished)."""
        logger.warning(
            "closing a WebSocket whose client fell behind by over %s bytes (code %s)",
            settings.WS_MAX_PENDING_BYTES,
            CLOSE_TOO_SLOW,
        )
        self.closing = True
        if self.writer is not None:
            self.writer.cancel()
        self.outbox.clear()
        self.pending_bytes = 0
        close = {"type": "websocket.close", "code": CLOSE_TOO_SLOW}
        # ensure_future: the server's send is typed as returning an awaitable, not a coroutine.
        self.closer = asyncio.ensure_future(self.server_send(close))
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": CLOSE_TOO_SLOW})

    # --- incoming ---------------------------------------------------------------------------

    async def read(self) -> None:
        """Take every message from the server as it comes; refuse frames over the limits.

        After a refusal, frames still arriving are dropped (not left to pile up in the
        server) until the server reports the disconnect."""
        refused = False
        while True:
            message = await self.server_receive()
            if message["type"] == "websocket.receive":
                if refused:
                    continue
                refusal = self.check(message)
                if refusal is not None:
                    refused = True
                    message = refusal
            self.inbox.put_nowait(message)
            if message["type"] == "websocket.disconnect":
                return

    def check(self, message: Message) -> Message | None:
        """A refusal for a frame over the limits, else None."""
        if frame_size(message) > settings.WS_MAX_FRAME_BYTES:
            reason = f"Frame too large: limit {settings.WS_MAX_FRAME_BYTES} bytes"
            return {
                "type": REFUSE,
                "status": 413,
                "code": CLOSE_FRAME_TOO_LARGE,
                "error_code": "payload_too_large",
                "reason": reason,
            }
        if not self.frames.take():
            rate, burst = settings.WS_FRAMES_PER_SECOND, settings.WS_FRAME_BURST
            reason = f"Too many frames: at most {rate:g} a second (bursts of {burst})"
            return {
                "type": REFUSE,
                "status": 429,
                "code": CLOSE_TOO_MANY_FRAMES,
                "error_code": "too_many_frames",
                "reason": reason,
            }
        return None

    async def receive(self) -> Message:
        """The application's ``receive``. A refusal is carried out when the application comes
        for it, so the frames before it have been answered: an ``error`` event saying why,
        the close, and the application told the client left."""
        message = await self.inbox.get()
        if message["type"] != REFUSE:
            return message
        event = error_event(
            message["reason"], None, status=message["status"], code=message["error_code"]
        )
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        await self.send({"type": "websocket.send", "text": text})
        await self.send({"type": "websocket.close", "code": message["code"]})
        return {"type": "websocket.disconnect", "code": message["code"]}


def frame_size(message: Message) -> int:
    """Bytes of a frame's payload (text counted as UTF-8); 0 for other messages."""
    if message.get("bytes") is not None:
        return len(message["bytes"])
    text = message.get("text")
    return len(text.encode("utf-8", "surrogatepass")) if text is not None else 0
