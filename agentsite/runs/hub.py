"""Runs alive in this process: their events in memory, their followers, their cancel switch.

A ``LiveRun`` is what the process executing a run holds. Followers here read its events from
memory with no delay; other processes read the event log and ask for cancellation through the
channel layer group ``run.<id>``, which ``listen_for_cancel`` serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, Callable
from typing import Any, Literal

from channels.layers import get_channel_layer

Event = dict[str, Any]
CancelMode = Literal["immediate", "after_turn"]
TERMINAL_TYPES = frozenset({"stream_complete", "error", "run_cancelled"})

_live: dict[uuid.UUID, LiveRun] = {}


def cancel_group(run_id: uuid.UUID) -> str:
    return f"run.{run_id.hex}"


class LiveRun:
    """One executing run's events (seq = offset + index + 1) and its cancel request.

    ``offset`` is the number of events the run had before this process took it up: a run
    resumed after an approval keeps its seqs, and its earlier events are in the event log."""

    def __init__(self, run_id: uuid.UUID, session_id: str | None, offset: int = 0) -> None:
        self.run_id = run_id
        self.session_id = session_id
        self.offset = offset
        self.events: list[Event] = []
        self.done = asyncio.Event()
        self.cancel_mode: CancelMode | None = None
        self.cancelled_by = ""
        self.task: asyncio.Task[None] | None = None
        # Headers an HTTP answer about this run carries (the quotas' X-RateLimit-*).
        self.headers: dict[str, str] = {}
        self._changed = asyncio.Event()
        self._on_cancel: Callable[[CancelMode], None] | None = None

    @property
    def last_seq(self) -> int:
        return self.offset + len(self.events)

    def publish(self, event: Event) -> int:
        self.events.append(event)
        self._wake()
        return self.last_seq

    def finish(self) -> None:
        self.done.set()
        self._wake()
        _live.pop(self.run_id, None)

    def on_cancel(self, callback: Callable[[CancelMode], None]) -> None:
        self._on_cancel = callback
        if self.cancel_mode is not None:
            callback(self.cancel_mode)

    def cancel(self, mode: CancelMode = "immediate", by: str = "") -> None:
        if self.done.is_set() or self.cancel_mode == "immediate":
            return
        self.cancel_mode = mode
        self.cancelled_by = by
        if self._on_cancel is not None:
            self._on_cancel(mode)

    async def follow(self, after: int = 0) -> AsyncGenerator[tuple[int, Event], None]:
        """Events after ``after`` (at least ``offset``: earlier ones are the log's) as they come,
        until the run's last event."""
        after = max(after, self.offset)
        while True:
            while after < self.last_seq:
                after += 1
                yield after, self.events[after - self.offset - 1]
            if self.done.is_set():
                return
            self._changed.clear()
            await self._changed.wait()

    def _wake(self) -> None:
        self._changed.set()


def register(live: LiveRun) -> None:
    _live[live.run_id] = live


def get_live(run_id: uuid.UUID) -> LiveRun | None:
    return _live.get(run_id)


async def listen_for_cancel(live: LiveRun) -> None:
    """Serve ``run.cancel`` messages sent to this run's group from any process."""
    layer = get_channel_layer()
    if layer is None:
        return
    channel = await layer.new_channel()
    group = cancel_group(live.run_id)
    await layer.group_add(group, channel)
    try:
        while not live.done.is_set():
            message = await layer.receive(channel)
            if message.get("type") == "run.cancel":
                live.cancel(message.get("mode", "immediate"), message.get("by", ""))
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(layer.group_discard(group, channel))


async def request_cancel(run_id: uuid.UUID, mode: CancelMode, by: str) -> None:
    """Ask whichever process runs ``run_id`` to cancel it."""
    live = get_live(run_id)
    if live is not None:
        live.cancel(mode, by)
        return
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(cancel_group(run_id), {"type": "run.cancel", "mode": mode, "by": by})
