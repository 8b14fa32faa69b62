"""``agentsite.conversations.dbthread``: with DATABASE_THREADS > 1 (PostgreSQL's default), a
run's database calls take turns over the module's own threads, each with its own connection,
instead of queueing on one; with 1 (SQLite) they share asgiref's process-wide thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agentsite.conversations.dbthread import in_database_thread, on_every_database_thread
from agentsite.models import Conversation

pytestmark = pytest.mark.django_db(transaction=True)


@in_database_thread
def where_and_how_many() -> tuple[str, int]:
    return threading.current_thread().name, Conversation.objects.count()


async def test_calls_run_at_once_on_the_database_threads(settings):
    """Two calls run at the same time, each on a thread of its own with its own connection
    (which thread takes which call is not fixed: a free thread takes whatever waits)."""
    settings.DATABASE_THREADS = 2
    await Conversation.objects.acreate(agent="chat", session_id="one")
    both_running = threading.Barrier(2, timeout=30)

    @in_database_thread
    def meet_then_count() -> tuple[str, int]:
        both_running.wait()  # breaks (an error) unless another call runs meanwhile
        return threading.current_thread().name, Conversation.objects.count()

    answers = await asyncio.gather(meet_then_count(), meet_then_count())
    threads = {name for name, _ in answers}
    assert len(threads) == 2, threads
    assert all(name.startswith("agentsite-db-") for name in threads)
    assert {count for _, count in answers} == {1}


async def test_one_database_thread_is_asgirefs_shared_one(settings):
    settings.DATABASE_THREADS = 1
    answers = await asyncio.gather(*(where_and_how_many() for _ in range(3)))
    assert len({name for name, _ in answers}) == 1
    assert not answers[0][0].startswith("agentsite-db-")


async def test_a_connection_an_outage_broke_is_dropped_before_the_next_call(settings):
    """No request ever closes the database threads' connections: one that a database error
    left unusable is closed before the next call on that thread (which then reconnects)."""
    from django.db import connections

    settings.DATABASE_THREADS = 2

    def break_connection() -> None:
        connection = connections["default"]
        connection.ensure_connection()
        connection.errors_occurred = True
        connection.is_usable = lambda: False  # as psycopg reports a connection the server cut

    def mend() -> None:
        vars(connections["default"]).pop("is_usable", None)

    @in_database_thread
    def connection_at_start() -> object:
        return connections["default"].connection

    await on_every_database_thread(break_connection)
    try:
        assert await asyncio.gather(*(connection_at_start() for _ in range(4))) == [None] * 4
        assert (await where_and_how_many())[1] == 0, "the thread reconnects"
    finally:
        await on_every_database_thread(mend)


async def test_after_a_database_error_every_thread_checks_its_connection(settings):
    """A connection that died while its thread was idle raised nothing yet: after a database
    error anywhere in the process, every thread checks its connections before its next call,
    instead of each failing one call of its own first (tests/agentsite/runs/
    test_database_outage.py with DATABASE_THREADS=4)."""
    from django.db import connections

    from agentsite.errors import forget_broken_connections

    settings.DATABASE_THREADS = 2

    def die_quietly() -> None:
        connection = connections["default"]
        connection.ensure_connection()
        connection.errors_occurred = False
        connection.is_usable = lambda: False

    def mend() -> None:
        vars(connections["default"]).pop("is_usable", None)

    @in_database_thread
    def connection_at_start() -> object:
        return connections["default"].connection

    await on_every_database_thread(die_quietly)
    try:
        forget_broken_connections()
        assert await asyncio.gather(*(connection_at_start() for _ in range(4))) == [None] * 4
        assert (await where_and_how_many())[1] == 0, "the thread reconnects"
    finally:
        await on_every_database_thread(mend)


async def test_a_call_of_the_first_lane_overtakes_queued_bookkeeping(settings):
    """A new run's claim must not wait behind other runs' flushes and session writes: with the
    thread busy, a later ``first`` call runs before the ``normal`` ones queued before it;
    within a lane, calls keep their order."""
    settings.DATABASE_THREADS = 1
    started, release = threading.Event(), threading.Event()
    order: list[str] = []

    def hold() -> None:
        started.set()
        release.wait(30)

    def record(name: str) -> None:
        order.append(name)

    held = asyncio.ensure_future(in_database_thread(hold)())
    await asyncio.to_thread(started.wait, 30)
    calls = [
        asyncio.ensure_future(in_database_thread(record, lane)(name))
        for lane, name in [
            ("normal", "flush"),
            ("normal", "write 1"),
            ("normal", "write 2"),
            ("first", "claim"),
        ]
    ]
    await asyncio.sleep(0)  # every call is queued
    release.set()
    await asyncio.gather(held, *calls)
    assert order == ["claim", "flush", "write 1", "write 2"]


async def test_a_free_thread_takes_the_calls_a_busy_one_was_given(settings):
    """Calls take turns over the threads, but one held by a long transaction does not keep
    the calls handed to it waiting while another thread is free."""
    settings.DATABASE_THREADS = 2
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(30)

    held = asyncio.ensure_future(in_database_thread(hold)())
    await asyncio.to_thread(started.wait, 30)
    try:
        # With plain turns, one of the four would be handed to the held thread and wait.
        answers = await asyncio.wait_for(
            asyncio.gather(*(where_and_how_many() for _ in range(4))), 30
        )
        assert not held.done(), "all four ran while one thread was held"
        assert [count for _, count in answers] == [0] * 4
    finally:
        release.set()
        await held
