"""Tests that run on both event-log backends: the database, or a Redis database of the test
module's own (``reserved_redis_database``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from agentsite.runs.eventlog import get_event_log
from tests.support.server import reserved_redis_database

BACKENDS = ["database", "redis"]


@contextmanager
def event_log_on(backend: str, redis_database: int, settings: Any) -> Iterator[str]:
    """Runs log their events to ``backend`` ("database" or "redis") while this lasts;
    ``get_event_log``'s per-process cache is cleared on the way in and out."""
    get_event_log.cache_clear()
    try:
        if backend == "database":
            settings.REDIS_URL = ""
            yield backend
        else:
            with reserved_redis_database(redis_database) as url:
                settings.REDIS_URL = url
                yield backend
    finally:
        get_event_log.cache_clear()


@asynccontextmanager
async def async_event_log_on(
    backend: str, redis_database: int, settings: Any
) -> AsyncIterator[str]:
    """``event_log_on`` for async tests: the Redis client's connections belong to the test's
    event loop, so they are closed before it ends."""
    with event_log_on(backend, redis_database, settings):
        try:
            yield backend
        finally:
            if backend == "redis":
                await get_event_log().redis.aclose()  # type: ignore[attr-defined]
