"""The database threads: where a run's SQL runs, one hop from the event loop.

Django's connections belong to a thread and its transactions are synchronous, so a run's
database work — each call here one whole transaction — goes to a worker thread.

On SQLite that is one thread: asgiref's process-wide single thread, the one ``sync_to_async``
picks outside a request (runs start in a fresh context, ``agentsite.runs.service``), so the ORM
calls elsewhere in a run share its connection and writers never wait on each other's file lock.

On PostgreSQL one thread makes every run's claim wait behind other runs' event-log flushes and
session writes, each a round trip and a commit: the process's database work is then serial, and
it, not the CPU, bounds streams per second (README "Benchmarks"). There, DATABASE_THREADS
threads of this module's own (4 by default), each with its own connection, take calls in turn;
no request ever closes their connections, so each thread drops a broken one before its next
call (``_with_usable_connection``).

Calls wait in lanes, not in one line: a database thread takes the next call of the ``first``
lane (a new run's claim and its history read: what its first event waits for) before any of
``normal`` (event-log flushes, session writes, a run's end); FIFO within a lane. The flushes
are not put in a lane after the others: a run's end waits for its last flush, so that would
delay every run's end behind other runs' claims and writes.
With DATABASE_THREADS > 1 the lanes are shared by the threads, so a call also never waits for
a thread held by a long transaction while another thread is free.

The single thread is asgiref's ``SyncToAsync.single_thread_executor`` itself (a private
attribute of asgiref 3.x), not ``sync_to_async``: under a sync caller (an admin view under
``async_to_sync``) ``sync_to_async`` would send the call to that caller's thread, whose
executor is gone once it returns while a run it started goes on. Measured cost of either way:
41–45 µs against 61–82 µs of CPU per hop, below the benchmark's noise.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import itertools
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Literal, ParamSpec, TypeVar

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
Lane = Literal["first", "normal"]
LANES: tuple[Lane, ...] = ("first", "normal")

# Tasks submitted without waiting for them, kept alive until they finish.
_background: set[asyncio.Task[Any]] = set()
_threads: list[ThreadPoolExecutor] = []
_turns: itertools.cycle[ThreadPoolExecutor] | None = None
# Bumped by ``check_connections_before_next_call`` (a database error anywhere in the process);
# each of this module's threads remembers the last value it checked its connections at.
_outages = 0
_checked = threading.local()


def database_threads() -> int:
    """How many threads run database work (DATABASE_THREADS; 1 on SQLite)."""
    return settings.DATABASE_THREADS


class _Lanes:
    """Calls waiting for the threads of one executor group, a queue per lane.

    Each call queues its work in its lane and one ``_run_next`` on a thread; a ``_run_next``
    takes the most urgent waiting work, so urgent work overtakes what was queued before it.
    On asgiref's thread it takes one (the async ORM's calls queue there too, and must not
    starve); on this module's own threads it goes on until the lanes are empty, so a call
    never waits for a thread held by a long transaction while another thread is free (a later
    ``_run_next`` that finds nothing returns).
    """

    def __init__(self, *, until_empty: bool) -> None:
        self.until_empty = until_empty
        self._queues: dict[Lane, collections.deque[tuple[Callable[[], Any], Any]]] = {
            lane: collections.deque() for lane in LANES
        }

    def submit(
        self, executor: Executor, lane: Lane, work: Callable[[], T]
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        entry = (work, future)
        queue = self._queues[lane]
        queue.append(entry)
        try:
            executor.submit(self._run_next)
        except RuntimeError:  # the executor is shut down: the process is exiting
            with contextlib.suppress(ValueError):
                queue.remove(entry)
            raise
        return future

    def _run_next(self) -> None:
        while (entry := self._take()) is not None:
            work, future = entry
            # False: the caller was cancelled before the work started; it is skipped.
            if future.set_running_or_notify_cancel():
                try:
                    result = work()
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            if not self.until_empty:
                return

    def _take(self) -> tuple[Callable[[], Any], Any] | None:
        for queue in self._queues.values():
            with contextlib.suppress(IndexError):
                return queue.popleft()
        return None


# asgiref's single thread's lanes, and those shared by this module's own threads.
_shared_lanes = _Lanes(until_empty=False)
_own_lanes = _Lanes(until_empty=True)


def in_database_thread(
    function: Callable[P, T], lane: Lane = "normal"
) -> Callable[P, Coroutine[Any, Any, T]]:
    """``function`` as a coroutine function that runs it on a database thread, its calls
    queued in ``lane``."""

    @functools.wraps(function)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        if database_threads() <= 1:
            # asgiref's process-wide thread itself, whatever the caller's context: through
            # sync_to_async, a call made under a sync caller (an admin view under
            # async_to_sync) goes to that caller's thread, whose executor is gone once it
            # returns while a run it started goes on (tests/agentsite/test_approval_admin.py
            # hangs). asgiref 3.x names it ``single_thread_executor``.
            work = functools.partial(function, *args, **kwargs)
            future = _shared_lanes.submit(SyncToAsync.single_thread_executor, lane, work)
        else:
            work = functools.partial(_with_usable_connection, function, *args, **kwargs)
            future = _own_lanes.submit(_next_thread(), lane, work)
        return await asyncio.wrap_future(future)

    return call


def _next_thread() -> ThreadPoolExecutor:
    global _turns
    if _turns is None:
        _threads.extend(
            ThreadPoolExecutor(1, thread_name_prefix=f"agentsite-db-{number}")
            for number in range(database_threads())
        )
        _turns = itertools.cycle(_threads)
    return next(_turns)


def _with_usable_connection(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """No request ever closes these threads' connections: one a database outage broke is
    dropped here, before the next call, which then reconnects.

    A connection that raised itself is checked before the thread's next call; after a database
    error anywhere in the process (``check_connections_before_next_call``) every thread checks
    its connections once, so a thread whose connection died while idle does not fail one call
    of its own first (each thread would, in turn, with calls taking turns over them).
    """
    outage_seen = getattr(_checked, "outages", 0) != _outages
    _checked.outages = _outages
    for connection in connections.all(initialized_only=True):
        if connection.connection is None or not (connection.errors_occurred or outage_seen):
            continue
        connection.errors_occurred = False
        try:
            if not connection.is_usable():
                connection.close()
        except Exception as exc:  # closing a dead connection may itself fail; it is gone anyway
            logger.debug("closing a broken database connection failed: %s", exc)
    return function(*args, **kwargs)


def check_connections_before_next_call() -> None:
    """A database error said connections may be broken: each of this module's threads checks
    its connections (``is_usable``, one round trip) before its next call, and drops the dead
    ones. Safe from any thread; only a flag is set here."""
    global _outages
    _outages += 1


def submit_to_database_thread(function: Callable[[], object]) -> None:
    """Queue ``function`` on asgiref's process-wide thread (the database thread on SQLite, and
    the one the async ORM uses outside requests), without waiting for it.

    Submitted to that thread's executor itself, from any thread, with or without a running
    event loop: it is called from the error path of sync code too (a failed transaction on a
    database thread), where ``sync_to_async`` has no loop to queue on and the broken
    connection would stay (tests/agentsite/runs/test_database_outage.py).
    """
    # RuntimeError: the executor is shut down, the process is exiting.
    with contextlib.suppress(RuntimeError):
        SyncToAsync.single_thread_executor.submit(function)


async def on_every_database_thread(function: Callable[[], object]) -> None:
    """Run ``function`` once on each database thread — asgiref's shared one (which the async
    ORM uses outside requests) and this module's own — e.g. to give every connection a hook."""
    await sync_to_async(function, thread_sensitive=True)()
    if database_threads() <= 1:
        return
    _next_thread()
    loop = asyncio.get_running_loop()
    for thread in _threads:
        await loop.run_in_executor(thread, function)


def close_connections() -> None:
    """Close the connections of this module's own threads (tests, before the test database is
    dropped); they open again on the next call."""
    for thread in _threads:
        thread.submit(connections.close_all).result()
