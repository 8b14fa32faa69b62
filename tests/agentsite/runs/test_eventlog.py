"""The per-run event log contract, run against both implementations.

A client resuming a stream on another process reads only the log, so the database log (no
Redis) and the Redis stream must agree exactly: numbering, "after N" reads, waits that return at
once, time out, or wake on an append from another task, and expiry once a run has ended.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from agentsite.models import Run
from agentsite.runs.eventlog import (
    DatabaseEventLog,
    EventLog,
    Numbered,
    RedisEventLog,
    get_event_log,
)
from tests.support.server import REDIS_DB_EVENTLOG, reserved_redis_database

# Generous bounds: they only have to separate "at once" from "after the full wait".
AT_ONCE = 1.0
LONG_WAIT = 5.0


@dataclass
class LogUnderTest:
    log: EventLog
    run_id: uuid.UUID


@pytest.fixture
def redis_url() -> Iterator[str]:
    """This module's own Redis database, empty; an unreachable Redis fails the test."""
    with reserved_redis_database(REDIS_DB_EVENTLOG) as url:
        yield url


@pytest.fixture
def fresh_event_log_cache() -> Iterator[None]:
    """``get_event_log`` is cached per process; tests that change REDIS_URL must not leak it."""
    get_event_log.cache_clear()
    yield
    get_event_log.cache_clear()


@pytest.fixture(
    params=[
        pytest.param("database", marks=pytest.mark.django_db(transaction=True)),
        "redis",
    ]
)
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[LogUnderTest]:
    """Each implementation with a run to log: a Run row for the database (the batches' FK)."""
    if request.param == "database":
        run = await Run.objects.acreate(agent="chat")
        yield LogUnderTest(DatabaseEventLog(), run.id)
        return
    url = request.getfixturevalue("redis_url")
    log = RedisEventLog(url)
    try:
        yield LogUnderTest(log, uuid.uuid4())
    finally:
        # The client's connections belong to this test's event loop.
        await log.redis.aclose()


def numbered(first: int, last: int) -> list[Numbered]:
    return [
        (seq, {"type": "raw_response", "seq": seq, "text": f"délta {seq} ✓", "nested": [seq]})
        for seq in range(first, last + 1)
    ]


async def test_append_batches_and_read_after_n(subject: LogUnderTest):
    log, run_id = subject.log, subject.run_id
    await log.append(run_id, numbered(1, 3))
    await log.append(run_id, numbered(4, 5))

    assert await log.read(run_id, 0) == numbered(1, 5)
    assert await log.read(run_id, 3) == numbered(4, 5)
    assert await log.read(run_id, 5) == []
    assert await log.read(run_id, 99) == []


async def test_a_retried_batch_is_neither_lost_nor_duplicated(subject: LogUnderTest):
    """The run driver retries a batch whose write failed, with the events that came since
    appended: the write may in fact have landed, so appends must be idempotent."""
    log, run_id = subject.log, subject.run_id
    await log.append(run_id, numbered(1, 3))
    await log.append(run_id, numbered(1, 3))
    await log.append(run_id, numbered(1, 5))
    await log.append(run_id, numbered(6, 7))

    assert await log.read(run_id, 0) == numbered(1, 7)
    assert await log.read(run_id, 2) == numbered(3, 7)
    assert await log.read(run_id, 4) == numbered(5, 7)


async def test_read_of_an_unknown_run_is_empty(subject: LogUnderTest):
    """A run that has logged nothing yet (or another run's id) reads as no events."""
    await subject.log.append(subject.run_id, numbered(1, 2))
    assert await subject.log.read(uuid.uuid4(), 0) == []


async def test_runs_do_not_see_each_others_events(subject: LogUnderTest):
    log = subject.log
    other = (
        (await Run.objects.acreate(agent="chat")).id
        if isinstance(log, DatabaseEventLog)
        else uuid.uuid4()
    )
    await log.append(subject.run_id, numbered(1, 2))
    await log.append(other, [(1, {"type": "stream_complete"})])

    assert await log.read(subject.run_id, 0) == numbered(1, 2)
    assert await log.read(other, 0) == [(1, {"type": "stream_complete"})]


async def test_wait_returns_at_once_when_events_exist(subject: LogUnderTest):
    log, run_id = subject.log, subject.run_id
    await log.append(run_id, numbered(1, 4))

    started = time.monotonic()
    events = await log.wait(run_id, 2, LONG_WAIT)

    assert events == numbered(3, 4)
    assert time.monotonic() - started < AT_ONCE


@pytest.mark.parametrize("seconds", [0.3, 0.6])
async def test_wait_times_out_empty_after_the_given_seconds(subject: LogUnderTest, seconds: float):
    log, run_id = subject.log, subject.run_id
    await log.append(run_id, numbered(1, 2))

    started = time.monotonic()
    events = await log.wait(run_id, 2, seconds)
    elapsed = time.monotonic() - started

    assert events == []
    # Redis times the block on the server; allow a little clock slack either way.
    assert seconds * 0.9 <= elapsed < seconds + AT_ONCE


async def test_wait_wakes_when_another_task_appends(subject: LogUnderTest):
    log, run_id = subject.log, subject.run_id
    await log.append(run_id, numbered(1, 1))
    waiting = asyncio.create_task(log.wait(run_id, 1, LONG_WAIT))
    # Let the waiter reach its blocking read (XREAD BLOCK / the poll loop) before appending.
    await asyncio.sleep(0.1)
    assert not waiting.done(), "wait returned with no new events"

    appended_at = time.monotonic()
    await log.append(run_id, numbered(2, 3))
    events = await asyncio.wait_for(waiting, LONG_WAIT + AT_ONCE)

    # A wait may return the first part of a batch only if the rest follows on the next read.
    assert events
    assert events == numbered(2, 1 + len(events))
    assert events + await log.read(run_id, events[-1][0]) == numbered(2, 3)
    assert time.monotonic() - appended_at < AT_ONCE


async def test_expire_keeps_the_log_readable(subject: LogUnderTest):
    """Expiry only schedules removal: a client resuming right after the end still gets it."""
    log, run_id = subject.log, subject.run_id
    await log.append(run_id, numbered(1, 3))
    await log.expire(run_id)
    assert await log.read(run_id, 1) == numbered(2, 3)


async def test_redis_expire_sets_the_configured_ttl(redis_url: str, settings):
    """A Redis stream of a finished run disappears after RUN_EVENTS_TTL_SECONDS; each append
    also sets it, so a run whose process dies does not leave a log that lives forever."""
    log = RedisEventLog(redis_url)
    run_id = uuid.uuid4()
    try:
        settings.RUN_EVENTS_TTL_SECONDS = 300
        await log.append(run_id, numbered(1, 2))
        [key] = await log.redis.keys(f"*{run_id}*")
        assert 290 <= await log.redis.ttl(key) <= 300

        await log.redis.persist(key)
        assert await log.redis.ttl(key) == -1
        settings.RUN_EVENTS_TTL_SECONDS = 77
        await log.expire(run_id)
        assert 70 <= await log.redis.ttl(key) <= 77
    finally:
        await log.redis.aclose()


async def test_exists_says_whether_a_run_has_kept_events(subject: LogUnderTest):
    """How a resume tells "nothing yet" from "deleted or expired" (a 404) for a finished run."""
    log, run_id = subject.log, subject.run_id
    assert not await log.exists(run_id)
    await log.append(run_id, numbered(1, 1))
    assert await log.exists(run_id)


@pytest.mark.django_db(transaction=True)
async def test_database_events_go_with_their_run():
    """Database batches also die with their Run row (their TTL: test_deletion.py)."""
    log = DatabaseEventLog()
    run = await Run.objects.acreate(agent="chat")
    await log.append(run.id, numbered(1, 2))
    await log.expire(run.id)
    assert await log.read(run.id, 0) == numbered(1, 2)

    await run.adelete()
    assert await log.read(run.id, 0) == []


def test_get_event_log_follows_redis_url(settings, redis_url: str, fresh_event_log_cache: None):
    settings.REDIS_URL = ""
    assert isinstance(get_event_log(), DatabaseEventLog)
    assert get_event_log() is get_event_log(), "one log per process"

    get_event_log.cache_clear()
    settings.REDIS_URL = redis_url
    assert isinstance(get_event_log(), RedisEventLog)
