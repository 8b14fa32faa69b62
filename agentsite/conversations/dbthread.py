"""The database thread: where a run's SQL runs, one hop from the event loop.

Django's connections belong to a thread and its transactions are synchronous, so a run's
database work goes to one worker thread: asgiref's process-wide single thread, the one
``sync_to_async`` picks outside a request (runs start in a fresh context,
``agentsite.runs.service``),
so the ORM calls elsewhere in a run share its connection. ``in_database_thread`` submits
straight to that thread. asgiref's wrapper also copies the caller's context variables in and
back out around every call, records the calling task and guards against nested calls: work that
the functions here (plain SQL, no context variables, no async code) do not need, and that cost
more than the statements themselves (``make bench``, session store).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import SyncToAsync

P = ParamSpec("P")
T = TypeVar("T")


def in_database_thread(function: Callable[P, T]) -> Callable[P, Coroutine[Any, Any, T]]:
    """``function`` as a coroutine function that runs it on the database thread."""

    @functools.wraps(function)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        work = functools.partial(function, *args, **kwargs)
        return await loop.run_in_executor(SyncToAsync.single_thread_executor, work)

    return call
