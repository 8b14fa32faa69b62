"""Async Redis clients, one per event loop, for the code that talks to Redis directly (the run
event log, the quotas' counters; Channels has its own).

redis-py's asyncio connections belong to the loop that opened them, and a process has more than
one loop: the server's, and a new one for each ``async_to_sync`` call of a sync caller (an admin
view, a test client). The clients are held weakly by their loop, so a finished loop's client
goes with it instead of piling up.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any


class LoopClients:
    """The Redis client of ``url`` for the running event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    def get(self) -> Any:
        from redis.asyncio import Redis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = Redis.from_url(self.url)
        return client
