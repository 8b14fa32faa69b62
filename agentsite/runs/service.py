"""Runs as a service: start, follow, cancel and look up runs (of agents, and of pipelines such
as research).

HTTP views and WebSocket consumers call these functions and only translate what they yield or
raise. The run itself executes in a background task (``agentsite.runs.driver``), detached from the
connection that started it, so it can outlive it (``on_disconnect="continue"``) and be resumed or
cancelled from any process.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from agents.items import TResponseInputItem
from django.conf import settings
from django.db import connection
from django.utils import timezone

from agentsite.conversations.dbthread import in_database_thread
from agentsite.conversations.leases import claim_conversation
from agentsite.conversations.session import DjangoSession
from agentsite.conversations.sql import insert_row
from agentsite.errors import AgentSiteError, ApprovalPending, EventsGone, NotFound
from agentsite.governance.quotas import RunQuota, admit_run
from agentsite.models import Run, RunStatus
from agentsite.providers.selection import model_name_for
from agentsite.registry import AgentSpec
from agentsite.runs.agent_work import AgentWork
from agentsite.runs.approvals import cancel_paused, expire_overdue
from agentsite.runs.context import RunContext
from agentsite.runs.driver import RunDriver
from agentsite.runs.eventlog import Numbered, get_event_log
from agentsite.runs.events import error_event
from agentsite.runs.hub import TERMINAL_TYPES, LiveRun, get_live, register, request_cancel
from agentsite.runs.work import RunWork

AgentInput = str | list[TResponseInputItem]
OnDisconnect = Literal["cancel", "continue"]
Multitask = Literal["reject", "enqueue"]
CancelMode = Literal["immediate", "after_turn"]
FOLLOW_WAIT_SECONDS = 1.0
SETTLE_SECONDS = 5.0
CANCEL_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class RunRequest:
    spec: AgentSpec
    input: AgentInput
    owner: str
    session_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    on_disconnect: OnDisconnect = "cancel"
    multitask: Multitask = "reject"


@dataclass(frozen=True)
class WorkRequest:
    """A run whose work is not one agent's turn in a conversation (the research pipeline).

    ``agent`` names it in the ledger and in its run routes (``/{agent}/runs/{id}``); ``run_id``
    may be chosen by the caller, so the work can name what it stores after its run.
    """

    agent: str
    work: RunWork
    owner: str
    model: str = ""
    run_id: uuid.UUID = field(default_factory=uuid.uuid4)
    on_disconnect: OnDisconnect = "cancel"
    # Counted against the owner's research runs per day (QUOTA_RESEARCH_PER_DAY).
    research: bool = False


async def start_run(request: RunRequest | WorkRequest) -> LiveRun:
    """Admit the run under its owner's quotas (429 ``QuotaExceeded``), claim the conversation
    (409 ``ConversationBusy`` unless ``enqueue``) and start the run: every transport's runs
    start here. The quota headers are in the run's ``headers``.

    Shielded: a caller cancelled half way (the client left) must not leave a claimed
    conversation or a "running" ledger row behind with no run; the start completes and, if the
    run's policy is to cancel on disconnect, the run is then stopped.
    """
    # Own context: it must not use the request's thread executor, which may be gone by the end.
    starting = asyncio.get_running_loop().create_task(
        _start_run(request), context=contextvars.Context()
    )
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:

        def abandon(task: asyncio.Future[LiveRun]) -> None:
            if task.cancelled() or task.exception() is not None:
                return
            if request.on_disconnect == "cancel":
                task.result().cancel("immediate", "disconnect")

        starting.add_done_callback(abandon)
        raise


async def _start_run(request: RunRequest | WorkRequest) -> LiveRun:
    research = isinstance(request, WorkRequest) and request.research
    run_id = request.run_id if isinstance(request, WorkRequest) else uuid.uuid4()
    quota = await admit_run(request.owner, run_id, research=research)
    try:
        if isinstance(request, WorkRequest):
            return await _start_work(request, quota)
        return await _start_agent_run(request, run_id, quota)
    except BaseException:
        await asyncio.shield(quota.give_back())
        raise


async def _start_work(request: WorkRequest, quota: RunQuota) -> LiveRun:
    run = Run(
        id=request.run_id,
        agent=request.agent,
        owner_key=request.owner,
        model=request.model,
        on_disconnect=request.on_disconnect,
        lease_until=timezone.now() + timedelta(seconds=settings.RUN_LEASE_SECONDS),
    )
    await _insert_run_in_thread(run)
    return _launch(run, LiveRun(run.id, None), request.work, quota)


async def _start_agent_run(request: RunRequest, run_id: uuid.UUID, quota: RunQuota) -> LiveRun:
    session_id = request.session_id if settings.ENABLE_SESSIONS else None
    run = Run(
        id=run_id,
        agent=request.spec.slug,
        owner_key=request.owner,
        session_id=session_id or "",
        model=model_name_for(request.spec.slug),
        on_disconnect=request.on_disconnect,
        lease_until=timezone.now() + timedelta(seconds=settings.RUN_LEASE_SECONDS),
    )
    session = None
    if session_id:

        def record(conversation_id: int) -> None:
            run.conversation_id = conversation_id
            _insert_run(run)

        # The ledger row is written in the claim's transaction: claimed and recorded, or neither.
        claim = functools.partial(
            claim_conversation,
            request.owner,
            request.spec.slug,
            session_id,
            run.id,
            wait=request.multitask == "enqueue",
            then=record,
            adding=input_size(request.input),
            max_bytes=quota.limits.stored_bytes_cap(),
        )
        try:
            await claim()
        except ApprovalPending as pending:
            if not pending.expired:
                raise
            # The run holding it waited past APPROVAL_TIMEOUT_SECONDS: it resumes (rejected)
            # now, and this message waits its turn or is refused as busy, as with any run.
            await expire_overdue(await Run.objects.aget(pk=pending.run_id))
            await claim()
        session = DjangoSession(
            session_id,
            agent=request.spec.slug,
            owner=request.owner,
            session_settings=request.spec.session_settings(),
            conversation_id=run.conversation_id,
            for_model=True,
        )
    else:
        await _insert_run_in_thread(run)
    work = AgentWork(
        run=run,
        agent=request.spec.agent,
        input=request.input,
        context=RunContext(owner=request.owner, data=request.context),
        session=session,
    )
    return _launch(run, LiveRun(run.id, session_id), work, quota)


def _launch(run: Run, live: LiveRun, work: RunWork, quota: RunQuota) -> LiveRun:
    """Drive ``work`` in the background as ``run`` (its ledger row already written), counted
    under its quota until it ends."""
    driver = RunDriver(run=run, live=live, work=work)
    register(live)
    # A fresh context: the run must not inherit the request's thread-sensitive executor,
    # which Django shuts down when the request ends while the run may go on.
    live.task = asyncio.get_running_loop().create_task(
        driver.execute(), context=contextvars.Context()
    )
    quota.attach(live, work)
    return live


def input_size(value: AgentInput) -> tuple[int, int]:
    """``(items, bytes)`` a run's input adds to its conversation, as stored (a text input is
    stored as one user message)."""
    items = [{"role": "user", "content": value}] if isinstance(value, str) else value
    return len(items), sum(len(json.dumps(item, ensure_ascii=False).encode()) for item in items)


def _insert_run(run: Run) -> None:
    """The ledger row, in plain SQL (agentsite.conversations.sql): once per run."""
    with connection.cursor() as cursor:
        insert_row(cursor, run)


_insert_run_in_thread = in_database_thread(_insert_run)


async def run_to_completion(
    request: RunRequest | WorkRequest, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Start a run and wait for its last event; raise its error as an ``AgentSiteError``.
    ``headers`` receives the run's response headers (its quota's) once it has started."""
    live = await start_run(request)
    if headers is not None:
        headers.update(live.headers)
    last: dict[str, Any] = {}
    waiting: list[dict[str, Any]] = []
    try:
        async for _, event in live.follow():
            last = event
            if event.get("type") == "approval_requested":
                waiting.append(event)
    finally:
        if not live.done.is_set() and request.on_disconnect == "cancel":
            live.cancel("immediate", "disconnect")
    if last.get("type") == "error":
        error = AgentSiteError(last["message"], code=last.get("code"))
        error.status = last.get("status", 502)
        raise error
    if last.get("type") == "run_cancelled":
        error = AgentSiteError("The run was cancelled", code="run_cancelled")
        error.status = 409
        raise error
    if last.get("type") == "approval_requested":
        # Paused: the approvals and the run id, so the client can decide and resume.
        return {
            "type": RunStatus.AWAITING_APPROVAL.value,
            "run_id": str(live.run_id),
            "approvals": waiting,
        }
    return last


async def get_run(run_id: uuid.UUID, owner: str, agent: str) -> Run:
    """The run, if ``owner`` owns it; otherwise ``NotFound`` (never a 403: ids are not probed)."""
    run = await Run.objects.filter(pk=run_id, owner_key=owner, agent=agent).afirst()
    if run is None:
        raise NotFound("Run not found")
    return run


async def get_resumable_run(run_id: uuid.UUID, owner: str, agent: str) -> Run:
    """The run, if ``owner`` owns it and its events can be replayed. A finished run whose log
    is gone (its conversation deleted, or RUN_EVENTS_TTL_SECONDS past) is ``EventsGone``, a 404:
    a resuming client learns that nothing will ever come, instead of an empty stream that an
    ``EventSource`` would reconnect to forever."""
    run = await get_run(run_id, owner, agent)
    if run.status == RunStatus.RUNNING or get_live(run_id) is not None:
        return run
    if not await get_event_log().exists(run_id):
        raise EventsGone()
    return run


async def has_ended_before(run: Run, after: int) -> bool:
    """True when ``run`` has finished and has no event after ``after``: nothing to resume."""
    if run.status == RunStatus.RUNNING or after < run.event_count:
        return False
    # The ledger's count may lag (an interrupted run never recorded one): ask the log.
    return not await get_event_log().read(run.id, after)


async def follow_run(
    run_id: uuid.UUID, owner: str, agent: str, after: int = 0
) -> AsyncIterator[Numbered]:
    """A run's events after ``after``: from memory if it runs here, else from the event log,
    then live until its last event."""
    await get_run(run_id, owner, agent)
    live = get_live(run_id)
    log = get_event_log()
    if live is not None:
        # A run resumed here after an approval: its events before the pause are in the log.
        if after < live.offset:
            for seq, event in await log.read(run_id, after):
                if seq > live.offset:
                    break
                yield seq, event
        async for numbered in live.follow(after):
            yield numbered
        return
    loop = asyncio.get_running_loop()
    settle_by: float | None = None
    while True:
        events = await log.wait(run_id, after, FOLLOW_WAIT_SECONDS)
        for seq, event in events:
            yield seq, event
            after = seq
            if event.get("type") in TERMINAL_TYPES:
                return
        if events:
            continue
        run = await Run.objects.aget(pk=run_id)
        if run.status != RunStatus.RUNNING:
            for seq, event in await log.read(run_id, after):
                yield seq, event
                after = seq
            # A run paused with the Redis log records its pause before its last events are
            # written (``RunDriver._finish``): wait a little for the count the ledger names.
            settle_by = settle_by or loop.time() + SETTLE_SECONDS
            if after < run.event_count and loop.time() < settle_by:
                continue
            return
        if await Run.objects.filter(pk=run.pk).lease_expired().ainterrupt():
            yield (
                after + 1,
                error_event(
                    "The run was interrupted: the server running it stopped",
                    run.session_id or None,
                    status=503,
                    code="run_interrupted",
                    run_id=str(run.id),
                ),
            )
            return


async def cancel_run(run_id: uuid.UUID, owner: str, agent: str, mode: CancelMode, by: str) -> Run:
    """Ask the run to stop (from any process) and wait briefly for it to record its end. A run
    paused for approval has its calls rejected and stops after the model's next turn
    (``cancel_paused``)."""
    run = await get_run(run_id, owner, agent)
    if run.status == RunStatus.AWAITING_APPROVAL:
        if await cancel_paused(run, by) is None:
            return await Run.objects.aget(pk=run_id)
    elif run.status != RunStatus.RUNNING:
        return run
    else:
        await request_cancel(run_id, mode, by)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CANCEL_WAIT_SECONDS
    while loop.time() < deadline:
        await asyncio.sleep(0.05)
        run = await Run.objects.aget(pk=run_id)
        if run.status != RunStatus.RUNNING:
            break
    return run
