"""Per-run event logs, so a client can resume a stream from any process.

Each run's wire events are numbered from 1 and appended in batches by the process that runs
it. With ``REDIS_URL`` the log is a Redis stream (entry id ``<seq>-0``, blocking reads); without
it, ``RunEventBatch`` rows in the database (polled). Followers in the running process never read the
log: they get events from memory (``agentsite.runs.hub``).

Events carry content (every reply's text), so they do not outlive their use: a finished run's log
is kept for RUN_EVENTS_TTL_SECONDS (Redis expires its streams; ``expire_finished_run_events``
deletes the database batches) and ``forget_run_events`` removes it at once when its conversation
is deleted (``agentsite.conversations.retention``).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from agentsite.conversations.dbthread import in_database_thread
from agentsite.conversations.sql import insert_row
from agentsite.models import RunEventBatch
from agentsite.redis_clients import LoopClients

logger = logging.getLogger(__name__)
Event = dict[str, Any]
Numbered = tuple[int, Event]
POLL_SECONDS = 0.2


class EventLog(Protocol):
    transactional: bool

    async def append(self, run_id: uuid.UUID, events: list[Numbered]) -> None: ...

    async def read(self, run_id: uuid.UUID, after: int) -> list[Numbered]: ...

    async def wait(self, run_id: uuid.UUID, after: int, seconds: float) -> list[Numbered]:
        """Events after ``after``, waiting up to ``seconds`` for the first one."""
        ...

    async def expire(self, run_id: uuid.UUID) -> None:
        """The run has ended: keep its log only for RUN_EVENTS_TTL_SECONDS more."""
        ...

    async def exists(self, run_id: uuid.UUID) -> bool:
        """Whether any event of the run is still kept (not expired, not deleted)."""
        ...


class DatabaseEventLog:
    # Its writes can join the run's end-of-run transaction (see agentsite.runs.driver).
    transactional = True

    async def append(self, run_id: uuid.UUID, events: list[Numbered]) -> None:
        await _append_in_thread(run_id, events)

    @staticmethod
    def append_now(run_id: uuid.UUID, events: list[Numbered]) -> None:
        """The batch as one row, on the database thread (in the caller's transaction if any).
        Idempotent: a batch retried after a lost connection may have been written already."""
        if not events:
            return
        batch = RunEventBatch(
            run_id=run_id,
            first_seq=events[0][0],
            last_seq=events[-1][0],
            data=json.dumps([event for _, event in events]),
        )
        with connection.cursor() as cursor:
            insert_row(cursor, batch, ignore_conflicts=True)

    async def read(self, run_id: uuid.UUID, after: int) -> list[Numbered]:
        rows = RunEventBatch.objects.filter(run_id=run_id, last_seq__gt=after).order_by("last_seq")
        found: list[Numbered] = []
        async for first_seq, data in rows.values_list("first_seq", "data"):
            for seq, event in enumerate(json.loads(data), start=first_seq):
                if seq > after:
                    found.append((seq, event))
                    after = seq
        return found

    async def wait(self, run_id: uuid.UUID, after: int, seconds: float) -> list[Numbered]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            events = await self.read(run_id, after)
            if events or loop.time() >= deadline:
                return events
            await asyncio.sleep(min(POLL_SECONDS, max(deadline - loop.time(), 0)))

    async def expire(self, run_id: uuid.UUID) -> None:
        """Nothing to schedule: ``expire_finished_run_events`` deletes the batches of runs that
        finished more than RUN_EVENTS_TTL_SECONDS ago."""

    async def exists(self, run_id: uuid.UUID) -> bool:
        return await RunEventBatch.objects.filter(run_id=run_id).aexists()


_append_in_thread = in_database_thread(DatabaseEventLog.append_now)


class RedisEventLog:
    transactional = False

    def __init__(self, url: str) -> None:
        self.url = url
        self._clients = LoopClients(url)

    @property
    def redis(self) -> Any:
        return self._clients.get()

    @staticmethod
    def _key(run_id: uuid.UUID) -> str:
        return redis_key(run_id)

    async def append(self, run_id: uuid.UUID, events: list[Numbered]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for seq, event in events:
                pipe.xadd(self._key(run_id), {"e": json.dumps(event)}, id=f"{seq}-0")
            # Followers of a run whose process dies must not wait on a log that lives forever.
            pipe.expire(self._key(run_id), settings.RUN_EVENTS_TTL_SECONDS)
            results = await pipe.execute(raise_on_error=False)
        # Idempotent: an entry already there (a batch retried after a lost connection) is
        # refused by Redis as "equal or smaller than the target stream top item"; that is fine.
        for result in results:
            if isinstance(result, Exception) and "equal or smaller" not in str(result):
                raise result

    async def read(self, run_id: uuid.UUID, after: int) -> list[Numbered]:
        entries = await self.redis.xrange(self._key(run_id), min=f"({after}-0")
        return self._decode(entries)

    async def wait(self, run_id: uuid.UUID, after: int, seconds: float) -> list[Numbered]:
        found = await self.redis.xread(
            {self._key(run_id): f"{after}-0"}, block=max(int(seconds * 1000), 1)
        )
        return self._decode(found[0][1]) if found else []

    async def expire(self, run_id: uuid.UUID) -> None:
        await self.redis.expire(self._key(run_id), settings.RUN_EVENTS_TTL_SECONDS)

    async def exists(self, run_id: uuid.UUID) -> bool:
        return bool(await self.redis.exists(self._key(run_id)))

    @staticmethod
    def _decode(entries: list[Any]) -> list[Numbered]:
        decoded = []
        for entry_id, fields in entries:
            seq = int(
                (entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")[0]
            )
            decoded.append((seq, json.loads(fields[b"e"])))
        return decoded


@cache
def get_event_log() -> EventLog:
    if settings.REDIS_URL:
        return RedisEventLog(settings.REDIS_URL)
    return DatabaseEventLog()


def redis_key(run_id: uuid.UUID) -> str:
    return f"agentsite:run:{run_id}:events"


# Keys per DEL and rows per DELETE … IN: well under SQLite's bound on query parameters.
FORGET_CHUNK = 500


def forget_run_events(run_ids: Sequence[uuid.UUID]) -> None:
    """Delete every stored event of these runs, wherever it is kept: the database batches
    always (a deployment may have run without Redis before), the Redis streams when REDIS_URL
    is set. Synchronous, so it can run inside the transaction that deletes a conversation
    (``agentsite.conversations.retention``); a Redis failure raises and so rolls that transaction
    back."""
    for start in range(0, len(run_ids), FORGET_CHUNK):
        RunEventBatch.objects.filter(run_id__in=run_ids[start : start + FORGET_CHUNK]).delete()
    if not settings.REDIS_URL or not run_ids:
        return
    from redis import Redis

    with Redis.from_url(settings.REDIS_URL) as client:
        for start in range(0, len(run_ids), FORGET_CHUNK):
            client.delete(*(redis_key(run_id) for run_id in run_ids[start : start + FORGET_CHUNK]))


def stored_run_events(run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Event]]:
    """Every event still kept of these runs, in order, wherever it is kept (database batches,
    Redis streams): what an owner's data export holds. Synchronous, like ``forget_run_events``."""
    found: dict[uuid.UUID, dict[int, Event]] = {run_id: {} for run_id in run_ids}
    for start in range(0, len(run_ids), FORGET_CHUNK):
        batches = RunEventBatch.objects.filter(run_id__in=run_ids[start : start + FORGET_CHUNK])
        for run_id, first_seq, data in batches.values_list("run_id", "first_seq", "data"):
            for seq, event in enumerate(json.loads(data), start=first_seq):
                found[run_id].setdefault(seq, event)
    if settings.REDIS_URL and run_ids:
        from redis import Redis

        with Redis.from_url(settings.REDIS_URL) as client:
            for run_id in run_ids:
                for seq, event in RedisEventLog._decode(client.xrange(redis_key(run_id))):
                    found[run_id].setdefault(seq, event)
    return {run_id: [events[seq] for seq in sorted(events)] for run_id, events in found.items()}


def forget_events_of_deleted_runs(
    sender: object, run_ids: Sequence[uuid.UUID], **_: object
) -> None:
    """Receiver of ``runs_content_deleted``: a conversation's deletion takes its runs' events."""
    forget_run_events(run_ids)


def expire_finished_run_events(now: datetime | None = None) -> int:
    """Delete the database batches of runs that ended more than RUN_EVENTS_TTL_SECONDS ago
    (or whose process died that long ago without recording an end); the number of batches.

    The database counterpart of the Redis streams' expiry. Driven from the batches' side, so
    the work is proportional to what is still kept, not to the whole run ledger."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.RUN_EVENTS_TTL_SECONDS)
    ended = Q(run__finished_at__lt=cutoff) | Q(
        run__finished_at__isnull=True, run__lease_until__lt=cutoff
    )
    deleted, _ = RunEventBatch.objects.filter(ended).delete()
    return deleted


# How often a process deletes expired batches as runs end (``expire_events_soon``).
EXPIRY_EVERY_SECONDS = 60.0
_expiry = {"next": 0.0}
_expiring: set[asyncio.Task[int]] = set()


def expire_events_soon() -> None:
    """Called as each run ends: delete expired database batches in the background, at most once
    every EXPIRY_EVERY_SECONDS per process, so retention needs no cron job and costs the runs
    nothing (``manage.py expire_run_events`` does the same on demand)."""
    loop = asyncio.get_running_loop()
    if loop.time() < _expiry["next"]:
        return
    _expiry["next"] = loop.time() + EXPIRY_EVERY_SECONDS
    task = loop.create_task(_expire_in_thread(), context=contextvars.Context())
    _expiring.add(task)
    task.add_done_callback(_expiry_done)


def _expiry_done(task: asyncio.Task[int]) -> None:
    _expiring.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("could not delete expired run events: %s", task.exception())


_expire_in_thread = in_database_thread(expire_finished_run_events)
