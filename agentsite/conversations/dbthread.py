"""The database thread: where a run's SQL runs, one hop from the event loop.

Django's connections belong to a thread and its transactions are synchronous, so a run's
database work goes to one worker thread: asgiref's process-wide single thread, the one
``sync_to_async`` picks outside a request (runs start in a fresh context,
``agentsite.runs.service``), so the ORM calls elsewhere in a run share its connection.

This goes through ``sync_to_async`` itself. Submitting straight to asgiref's executor (its
``single_thread_executor`` attribute, not a public API) skips the per-call context copy and
saves ~25 µs of CPU per call on the 2-core development machine (41–45 µs against 61–82 µs per
hop, 3,000 calls), ~8 hops a run: about 1 % of a stream's CPU, below the benchmark's noise
(README "Benchmarks"), so the framework's own way is kept.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async

P = ParamSpec("P")
T = TypeVar("T")

# Tasks submitted without waiting for them, kept alive until they finish.
_background: set[asyncio.Task[Any]] = set()


def in_database_thread(function: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """``function`` as a coroutine function that runs it on the database thread."""
    return sync_to_async(function, thread_sensitive=True)


def submit_to_database_thread(function: Callable[[], object]) -> None:
    """Queue ``function`` on the process-wide database thread, without waiting for it.

    From inside a request, ``sync_to_async`` would pick the request's own thread; a fresh,
    empty context has no request, so the task goes to the thread runs use. Without a running
    event loop (a sync view's thread) there is nothing to queue on: nothing is done.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    task = loop.create_task(
        sync_to_async(function, thread_sensitive=True)(), context=contextvars.Context()
    )
    _background.add(task)
    task.add_done_callback(_background.discard)
