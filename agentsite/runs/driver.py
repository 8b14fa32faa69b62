"""Execute one run in the background, whatever its work (``agentsite.runs.work``).

The driver publishes the work's wire events to its ``LiveRun`` (memory, for followers in this
process), writes them in batches to the event log (for followers elsewhere), keeps the leases
alive, routes cancel requests to the work, builds the run's last event, and at the end records
the outcome in the ``Run`` ledger and gives the conversation back. It runs detached from any
connection, so a client may leave and come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from agents.usage import Usage
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from agentsite.conversations.dbthread import in_database_thread
from agentsite.conversations.leases import release_conversation, release_now, renew_lease
from agentsite.conversations.sql import Columns, update_row
from agentsite.errors import forget_broken_connections, translate_error
from agentsite.models import Run, RunStatus
from agentsite.runs.eventlog import (
    DatabaseEventLog,
    Numbered,
    expire_events_soon,
    forget_run_events,
    get_event_log,
)
from agentsite.runs.events import UsageCounts, WireEvent, error_event, usage_dict
from agentsite.runs.hub import LiveRun, listen_for_cancel
from agentsite.runs.pauses import Pause, approval_requested, store_pause, store_pause_now
from agentsite.runs.work import RunWork

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 0.1
FLUSH_BATCH = 64
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 5.0


class RunDriver:
    def __init__(self, *, run: Run, live: LiveRun, work: RunWork) -> None:
        self.run = run
        self.live = live
        self.work = work
        self._pending: list[Numbered] = []
        self._background: set[asyncio.Future[None]] = set()
        self._started = time.monotonic()
        self._first_event_ms: int | None = None
        self._last_write: asyncio.Future[None] | None = None

    async def execute(self) -> None:
        helpers = [
            asyncio.create_task(self._housekeeping()),
            asyncio.create_task(listen_for_cancel(self.live)),
        ]
        status, error = RunStatus.COMPLETED, ""
        terminal: WireEvent | None = None
        pause: Pause | None = None
        self.live.on_cancel(self.work.cancel)
        try:
            async with contextlib.aclosing(self.work.events()) as events:  # type: ignore[type-var]
                async for event in events:
                    self._emit(event)
            if self.live.cancel_mode is not None:
                status = RunStatus.CANCELLED
                terminal = self._cancelled_event(await self.work.cancelled())
            elif self.work.pause is not None:
                status, pause = RunStatus.AWAITING_APPROVAL, self.work.pause
            else:
                terminal = {
                    **self.work.completed(),
                    "run_id": str(self.run.id),
                    **self.work.terminal_keys(),
                }
        except asyncio.CancelledError:
            status, error = RunStatus.CANCELLED, "The server stopped the run"
            self.live.cancelled_by = self.live.cancelled_by or "server"
            terminal = self._cancelled_event({})
            raise
        except Exception as exc:
            failure = translate_error(exc)
            status, error = RunStatus.FAILED, failure.message
            terminal = error_event(
                failure.message,
                self.live.session_id,
                status=failure.status,
                code=failure.code,
                **self.work.terminal_keys(),
            )
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.shield(self._finish(status, error, self.work.usage, terminal, pause))

    def _emit(self, event: WireEvent) -> None:
        if self._first_event_ms is None:
            self._first_event_ms = int((time.monotonic() - self._started) * 1000)
        seq = self.live.publish(event)
        self._pending.append((seq, event))
        if len(self._pending) >= FLUSH_BATCH:
            flushing = asyncio.ensure_future(self._flush_logged())
            self._background.add(flushing)
            flushing.add_done_callback(self._background.discard)

    def _cancelled_event(self, keys: dict[str, Any]) -> WireEvent:
        event: WireEvent = {
            "type": "run_cancelled",
            "mode": self.live.cancel_mode or "immediate",
            "cancelled_by": self.live.cancelled_by,
            "partial_output": "",
            "final_output": None,
            "usage": usage_dict(self.work.usage),
            "session_id": self.live.session_id,
            "run_id": str(self.run.id),
        }
        event.update(keys)
        event.update(self.work.terminal_keys())
        return event

    def _flush(
        self, write_with: Callable[[list[Numbered]], Awaitable[None]] | None = None
    ) -> Awaitable[None]:
        """Write what is pending, after every earlier write (a follower must not find a batch
        before an earlier one). Shielded: a cancelled caller (the periodic flusher, stopped when
        the run ends) must not lose a batch it took. A batch that could not be written goes
        back in front of the pending events, for the next try (appends are idempotent).

        ``write_with(batch)`` writes the batch instead of the event log's ``append``, and
        runs even when nothing is pending (the end-of-run transaction)."""
        batch, self._pending = self._pending, []
        previous = self._last_write

        async def write() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            if batch or write_with is not None:
                try:
                    if write_with is not None:
                        await write_with(batch)
                    else:
                        await get_event_log().append(self.run.id, batch)
                except BaseException:
                    self._pending[:0] = batch
                    raise

        self._last_write = asyncio.ensure_future(write())
        return asyncio.shield(self._last_write)

    async def _flush_logged(self) -> None:
        await _attempt(self._flush, f"could not write events of run {self.run.id}")

    async def _housekeeping(self) -> None:
        """Write pending events every FLUSH_SECONDS (sooner when FLUSH_BATCH are waiting, see
        ``_emit``) and renew the leases every third of RUN_LEASE_SECONDS: one task with a plain
        sleep, since a short run ticks only a few times."""
        loop = asyncio.get_running_loop()
        renew_every = max(settings.RUN_LEASE_SECONDS / 3, 0.5)
        renew_at = loop.time() + renew_every
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self._flush_logged()
            if loop.time() >= renew_at:
                renew_at = loop.time() + renew_every
                # The database may be away; the next tick tries again.
                failure = f"could not renew the leases of run {self.run.id}"
                await _attempt(self._renew_leases, failure)

    async def _renew_leases(self) -> None:
        until = timezone.now() + timedelta(seconds=settings.RUN_LEASE_SECONDS)
        await Run.objects.filter(pk=self.run.pk).aupdate(lease_until=until)
        if self.run.conversation_id is not None:
            await renew_lease(self.run.id)

    async def _finish(
        self,
        status: str,
        error: str,
        usage: Usage,
        terminal: WireEvent | None,
        pause: Pause | None = None,
    ) -> None:
        """Record the outcome and give the conversation back *before* anyone sees the last
        event: a client that starts its next turn on ``stream_complete`` must find the session
        free, and followers elsewhere stop reading the log once the run is no longer "running",
        so the last event must be in the log by then.

        With the log in the database that is one transaction — the last events, the release,
        the ledger — and the last event goes out to this process's followers once it commits.
        With Redis: release, last event, flush, ledger, in that order.

        A run that pauses for approval keeps its conversation; its last events are the
        ``approval_requested`` ones, sent only once the approvals are stored (a client may
        decide the moment it sees one). With Redis the pause is stored first, then the events
        are written; a follower elsewhere waits for the ledger's event count (``follow_run``).

        With the database unavailable the last event still goes out (from memory), and the
        bookkeeping that failed is retried in the background until the database is back.
        """
        if self._first_event_ms is None:
            self._first_event_ms = int((time.monotonic() - self._started) * 1000)
        finals = [terminal] if terminal is not None else []
        if pause is not None:
            finals = [approval_requested(approval) for approval in pause.approvals]
        outcome = self._outcome(status, error, usage, len(finals), paused=pause is not None)
        release = self.run.conversation_id is not None and pause is None
        steps: list[Callable[[], Awaitable[None]]] = []
        try:
            if get_event_log().transactional:
                first = self.live.last_seq + 1
                self._pending += [(first + index, event) for index, event in enumerate(finals)]
                steps.append(
                    functools.partial(self._end_in_one_transaction, release, usage, outcome, pause)
                )
                try:
                    await _advance(steps)
                finally:
                    for event in finals:
                        self.live.publish(event)
            else:
                if pause is not None:
                    steps.append(functools.partial(store_pause, self.run, pause, outcome))
                elif release:
                    steps.append(functools.partial(release_conversation, self.run.id, usage))
                await _advance(steps)
                for event in finals:
                    self._emit(event)
                steps.append(self._flush)
                if pause is None:
                    steps.append(functools.partial(self._record, outcome))
                await _advance(steps)
        finally:
            self.live.finish()
        if steps:
            _keep_retrying(self.run, steps)
        _log_outcome(self.run, status, usage, int(outcome["latency_ms"]))
        expire_events_soon()

    def _outcome(
        self, status: str, error: str, usage: Usage, finals: int, paused: bool = False
    ) -> dict[str, Any]:
        """The ledger columns of the run's end or pause (the last events counted, sent or not
        yet). Usage is the run's whole usage: a resumed run's state carries the earlier part."""
        return {
            "status": status,
            "error": error,
            "cancelled_by": self.live.cancelled_by if status == RunStatus.CANCELLED else "",
            "event_count": self.live.last_seq + finals,
            "first_event_ms": self._first_event_ms,
            "latency_ms": int((time.monotonic() - self._started) * 1000),
            "finished_at": None if paused else timezone.now(),
            "lease_until": None,
            **usage_columns(usage),
        }

    def _end_in_one_transaction(
        self, release: bool, usage: Usage, outcome: dict[str, Any], pause: Pause | None
    ) -> Awaitable[None]:
        """The pending events, the release (or the pause) and the ledger row, committed
        together."""
        if pause is not None:
            return self._flush(functools.partial(_pause_run_in_thread, self.run, pause, outcome))
        return self._flush(
            functools.partial(
                _end_run_in_thread, self.run.id, release=usage if release else None, outcome=outcome
            )
        )

    async def _record(self, outcome: dict[str, Any]) -> None:
        """The ledger row (Redis log). The conversation may have been deleted between the
        release and the last events' write to Redis (``agentsite.conversations.retention``): then
        those
        events are deleted here, as the deletion would have."""
        linked = self.run.conversation_id is not None
        if await _record_in_thread(self.run.id, outcome, linked):
            await _forget_in_thread([self.run.id])
        else:
            await get_event_log().expire(self.run.id)


def _record_now(run_id: uuid.UUID, outcome: dict[str, Any], linked: bool = False) -> bool:
    """Write the outcome; True if ``linked`` (the run had a conversation) and the
    conversation is gone. The UPDATE waits for a deletion that holds the row, so the read
    after it sees that deletion."""
    with connection.cursor() as cursor:
        update_row(cursor, Run, run_id, outcome)
        if not linked:
            return False
        runs = Columns(Run)
        cursor.execute(
            f"SELECT {runs.conversation} FROM {runs.table} WHERE {runs.pk} = %s",
            [Run._meta.pk.get_db_prep_save(run_id, connection)],
        )
        row = cursor.fetchone()
        return row is not None and row[0] is None


def _end_run_now(
    run_id: uuid.UUID, batch: list[Numbered], release: Usage | None, outcome: dict[str, Any]
) -> None:
    """``release`` is the run's usage when it holds a conversation, else None."""
    with transaction.atomic():
        DatabaseEventLog.append_now(run_id, batch)
        if release is not None:
            release_now(run_id, release)
        _record_now(run_id, outcome)


def _pause_run_now(run: Run, pause: Pause, outcome: dict[str, Any], batch: list[Numbered]) -> None:
    with transaction.atomic():
        DatabaseEventLog.append_now(run.id, batch)
        store_pause_now(run, pause, outcome)


_pause_run_in_thread = in_database_thread(_pause_run_now)
_record_in_thread = in_database_thread(_record_now)
_forget_in_thread = in_database_thread(forget_run_events)
_end_run_in_thread = in_database_thread(_end_run_now)


async def _attempt(step: Callable[[], Awaitable[None]], failure: str) -> bool:
    """Run a database write that can wait for a later try; False (logged) if it failed."""
    try:
        await step()
    except Exception as exc:
        logger.warning("%s: %s", failure, exc)
        forget_broken_connections()
        return False
    return True


async def _advance(steps: list[Callable[[], Awaitable[None]]]) -> None:
    """Run the steps in order, removing each that succeeds; stop at the first that fails, so
    the rest keep their order for the next try."""
    while steps and await _attempt(steps[0], "could not record the end of a run (will retry)"):
        steps.pop(0)


_retrying: set[asyncio.Task[None]] = set()


def _keep_retrying(run: Run, steps: list[Callable[[], Awaitable[None]]]) -> None:
    """Retry the end-of-run bookkeeping with backoff for as long as the run's lease would have
    lasted (after that the conversation is free anyway and the ledger row reads as
    interrupted), so a database outage does not block the conversation for the whole lease."""

    async def retry() -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.RUN_LEASE_SECONDS
        delay = RETRY_FIRST_SECONDS
        while steps and loop.time() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            await _advance(steps)
        if steps:
            logger.error("gave up recording the end of run %s", run.id)

    task = asyncio.get_running_loop().create_task(retry(), context=contextvars.Context())
    _retrying.add(task)
    task.add_done_callback(_retrying.discard)


def _log_outcome(run: Run, status: str, usage: Usage, latency_ms: int) -> None:
    """One INFO line per run: ids, outcome, tokens and timing, never message content."""
    fields = {
        "run_id": str(run.id),
        "agent": run.agent,
        "model": run.model,
        "status": status,
        "total_tokens": usage.total_tokens,
        "latency_ms": latency_ms,
    }
    logger.info(" ".join(f"{key}=%s" for key in fields), *fields.values(), extra=fields)


class UsageColumns(UsageCounts):
    """The token columns of a ``Run`` (``TokenUsage``)."""

    cached_tokens: int
    reasoning_tokens: int


def usage_columns(usage: Usage) -> UsageColumns:
    return {
        **usage_dict(usage),
        "cached_tokens": getattr(usage.input_tokens_details, "cached_tokens", 0) or 0,
        "reasoning_tokens": getattr(usage.output_tokens_details, "reasoning_tokens", 0) or 0,
    }
