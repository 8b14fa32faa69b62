"""``ws/research/``: research over a WebSocket, the same events as ``POST /research/stream``.

A thin adapter over ``ResearchManager``. Frames the client sends:

- ``{"type": "run", "query": "…"}`` starts a research run; its events follow as JSON text
  frames, each the SSE event object plus ``seq`` (1, 2, … per run). They carry ``report_id``.
- ``{"type": "cancel"}`` stops it: the stored report keeps its progress with status ``failed``
  and the socket gets a ``run_cancelled`` frame.
- ``{"type": "ping"}`` → ``{"type": "pong"}``.

Anything else is answered with an ``error`` event carrying ``status`` (400 bad frame, 409 a run
already streaming, 422 bad query) and the socket stays open. One socket runs one research at a
time; closing the socket cancels it. Authentication is checked as for the agent sockets, at the
handshake and again before each ``run`` and ``cancel`` frame: a refused caller gets an ``error``
event, then close code 4401 (or 4403 for an origin that may not use the socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from agentsite.errors import AgentSiteError, Forbidden, Unauthorized, translate_error
from agentsite.runs.events import error_event
from agentsite.web.consumers import decode_frame, frame_type, refuse
from agentsite.web.owners import Owner, owner_for_scope, reauthenticate_scope
from research.manager import CANCELLED, ResearchManager


class SocketBusy(AgentSiteError):
    status = 409
    message = "A research run is already streaming on this socket"


class ResearchConsumer(AsyncJsonWebsocketConsumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner: Owner | None = None
        self.task: asyncio.Task[None] | None = None
        self.manager: ResearchManager | None = None

    async def connect(self) -> None:
        await self.accept()
        try:
            self.owner = await owner_for_scope(self.scope)
        except (Unauthorized, Forbidden) as error:
            await refuse(self, error)

    async def disconnect(self, code: int) -> None:
        await self.stop()

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if self.owner is None:
            return  # refused at the handshake; the close is on its way
        try:
            frame = decode_frame(text_data)
            kind = frame_type(frame, ("run", "cancel", "ping"))
            if kind in ("run", "cancel"):
                await reauthenticate_scope(self.scope)
            if kind == "run":
                self.start(frame.get("query", frame.get("input")))
            elif kind == "cancel":
                await self.cancel()
            else:
                await self.send_json({"type": "pong"})
        except Unauthorized as error:
            self.owner = None
            await refuse(self, error)
        except AgentSiteError as error:
            await self.send_json(
                error_event(error.message, None, status=error.status, code=error.code)
            )

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":"))

    def start(self, query: Any) -> None:
        if self.task is not None and not self.task.done():
            raise SocketBusy()
        assert self.owner is not None
        self.manager = ResearchManager(query, self.owner.key)
        self.task = asyncio.create_task(self.forward(self.manager))

    async def forward(self, manager: ResearchManager) -> None:
        seq = 0
        try:
            async with contextlib.aclosing(manager.run()) as events:
                async for event in events:
                    seq += 1
                    await self.send_json({**event, "seq": seq})
        except Exception as exc:
            error = translate_error(exc)
            await self.send_json(
                error_event(error.message, None, status=error.status, code=error.code)
            )

    async def cancel(self) -> None:
        if self.task is None or self.task.done() or self.manager is None:
            raise SocketBusy("No research run is streaming on this socket")
        await self.stop()
        if not self.task.cancelled():
            return  # it ended on its own first; its last event is already sent
        await self.send_json(
            {
                "type": "run_cancelled",
                "message": CANCELLED,
                "cancelled_by": "client",
                "report_id": str(self.manager.report_id),
            }
        )

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
