"""Deciding tool calls that wait for approval, and resuming their runs (DESIGN.md §9).

Every source of a decision — the native API, a WebSocket frame, the web UI's approval card, the
Django admin's inbox, the expiry — calls ``decide`` (or ``expire_overdue``). The decisions are
recorded with who took them and when; once every call the run paused on is decided, the run's
stored ``RunState`` is loaded in *this* process, the decisions are applied to it, and a driver
takes the run up again under the same run id, numbering its events on from where the paused
stream stopped. Nothing of a paused run lives in a process: a restart in between loses nothing.

Expiry: a call nobody decided within APPROVAL_TIMEOUT_SECONDS is rejected ("expired") by the
first thing that looks at it — a read of the run, a decision, a new message on its
conversation — or by ``manage.py expire_approvals`` (cron). The model is told why.
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from agents import RunState
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agentsite.conversations.dbthread import in_database_thread
from agentsite.conversations.session import DjangoSession
from agentsite.errors import InvalidDecision, NotAwaitingApproval, NotFound
from agentsite.models import Conversation, Decision, Run, RunStatus, ToolApproval
from agentsite.registry import get_spec
from agentsite.runs.context import context_from_json
from agentsite.runs.driver import RunDriver
from agentsite.runs.hub import LiveRun, register
from agentsite.runs.pauses import call_id_of

EXPIRED_BY = "server"


@dataclass(frozen=True)
class ApprovalDecision:
    """One decision as a transport received it."""

    approval_id: uuid.UUID
    approve: bool
    reason: str = ""
    always: bool = False


async def owned_run(run_id: uuid.UUID, owner: str, agent: str) -> Run:
    """The run, if ``owner`` owns it; otherwise ``NotFound`` (never a 403: ids are not probed)."""
    run = await Run.objects.filter(pk=run_id, owner_key=owner, agent=agent).afirst()
    if run is None:
        raise NotFound("Run not found")
    return run


async def pending_approvals(run: Run) -> list[ToolApproval]:
    """The calls the run waits on, oldest first (none unless it awaits approval)."""
    if run.status != RunStatus.AWAITING_APPROVAL:
        return []
    return [approval async for approval in run.approvals.pending().order_by("requested_at")]


async def decide(
    run_id: uuid.UUID,
    owner: str,
    agent: str,
    decisions: list[ApprovalDecision],
    by: str,
) -> tuple[Run, LiveRun | None]:
    """Record ``decisions`` on the owner's run; resume it here once nothing is left pending.

    ``NotFound`` for another owner's run, ``NotAwaitingApproval`` (409) when the run is not
    paused (anymore) or a call was decided already, ``InvalidDecision`` (422) for an id that is
    no approval of this run. Returns the run as it is now and, when it resumed, its live run.
    """
    run = await owned_run(run_id, owner, agent)
    return await decide_run(run, decisions, by)


async def decide_run(
    run: Run, decisions: list[ApprovalDecision], by: str
) -> tuple[Run, LiveRun | None]:
    """``decide`` for a run already looked up (the admin acts for no owner)."""
    check_decisions(decisions)
    live = await expire_overdue(run)
    if live is not None:
        raise NotAwaitingApproval(
            "This run's approvals expired (APPROVAL_TIMEOUT_SECONDS) and were rejected; "
            "the run has resumed"
        )
    resumed = await _record_in_thread(run.id, decisions, by)
    live = await _resume(resumed) if resumed is not None else None
    return await Run.objects.aget(pk=run.pk), live


async def expire_overdue(run: Run) -> LiveRun | None:
    """Reject, as expired, the calls of ``run`` nobody decided in time, and resume it; the
    resumed run, or None when nothing was overdue (or another process got there first)."""
    if run.status != RunStatus.AWAITING_APPROVAL:
        return None
    if not await run.approvals.overdue().aexists():
        return None
    resumed = await _expire_in_thread(run.id)
    return await _resume(resumed) if resumed is not None else None


async def expire_all_overdue() -> list[LiveRun]:
    """``expire_overdue`` for every paused run (the sweep of ``manage.py expire_approvals``)."""
    runs = Run.objects.filter(
        status=RunStatus.AWAITING_APPROVAL, approvals__in=ToolApproval.objects.overdue()
    ).distinct()
    resumed = []
    async for run in runs:
        live = await expire_overdue(run)
        if live is not None:
            resumed.append(live)
    return resumed


async def cancel_paused(run: Run, by: str) -> LiveRun | None:
    """Cancel a paused run: its waiting calls are rejected ("the run was cancelled") and it
    resumes only to let the model take that in, stopping after that turn (``after_turn``), so
    the conversation never keeps a tool call without an answer. The resumed run, or None when
    there was nothing to cancel (it was decided meanwhile)."""
    waiting = await pending_approvals(run)
    if not waiting:
        return None
    decisions = [
        ApprovalDecision(approval.id, False, "the run was cancelled") for approval in waiting
    ]
    try:
        _, live = await decide_run(run, decisions, by)
    except NotAwaitingApproval:
        return None
    if live is not None:
        live.cancel("after_turn", by)
    return live


def check_decisions(decisions: list[ApprovalDecision]) -> None:
    if not decisions:
        raise InvalidDecision("Send at least one decision")
    ids = [decision.approval_id for decision in decisions]
    if len(set(ids)) != len(ids):
        raise InvalidDecision("Each approval may be decided once per request")
    for decision in decisions:
        if decision.always and not decision.approve:
            raise InvalidDecision(
                f'"always" approves a tool for the conversation; it cannot go with a rejection '
                f"(approval {decision.approval_id})"
            )


@dataclass(frozen=True)
class Resumption:
    """What resuming needs, read in the transaction that took the run back up."""

    run: Run
    state: str
    approvals: list[ToolApproval]


def _record_now(run_id: uuid.UUID, decisions: list[ApprovalDecision], by: str) -> Resumption | None:
    """Write the decisions (each only if still pending: concurrent deciders cannot both win),
    then, if none is left pending, take the run back up: one transaction."""
    now = timezone.now()
    with transaction.atomic():
        if not Run.objects.filter(pk=run_id, status=RunStatus.AWAITING_APPROVAL).exists():
            raise NotAwaitingApproval()
        for decision in decisions:
            decided = ToolApproval.objects.filter(
                pk=decision.approval_id, run_id=run_id, decision=Decision.PENDING
            ).update(
                decision=Decision.APPROVED if decision.approve else Decision.REJECTED,
                reason=decision.reason,
                always=decision.always,
                decided_by=by,
                decided_at=now,
            )
            if not decided:
                _refuse(run_id, decision.approval_id)
        return _take_up_now(run_id)


def _refuse(run_id: uuid.UUID, approval_id: uuid.UUID) -> None:
    if ToolApproval.objects.filter(pk=approval_id, run_id=run_id).exists():
        raise NotAwaitingApproval(f"Approval {approval_id} was decided already")
    raise InvalidDecision(f"{approval_id} is not an approval of this run")


def _expire_now(run_id: uuid.UUID) -> Resumption | None:
    now = timezone.now()
    seconds = settings.APPROVAL_TIMEOUT_SECONDS
    with transaction.atomic():
        expired = (
            ToolApproval.objects.filter(run_id=run_id, run__status=RunStatus.AWAITING_APPROVAL)
            .overdue(now)
            .update(
                decision=Decision.EXPIRED,
                reason=f"no decision within {seconds} s (APPROVAL_TIMEOUT_SECONDS)",
                decided_by=EXPIRED_BY,
                decided_at=now,
            )
        )
        if not expired:
            return None
        # A pause's calls all expire together (they were asked together); any left pending
        # expire with them, so the run is never half decided by the clock.
        ToolApproval.objects.filter(run_id=run_id).pending().update(
            decision=Decision.EXPIRED,
            reason=f"no decision within {seconds} s (APPROVAL_TIMEOUT_SECONDS)",
            decided_by=EXPIRED_BY,
            decided_at=now,
        )
        return _take_up_now(run_id)


def _take_up_now(run_id: uuid.UUID) -> Resumption | None:
    """Compare-and-set ``awaiting_approval`` → ``running`` once nothing is pending; the
    stored state goes with it (and leaves the ledger row: it holds the conversation)."""
    if ToolApproval.objects.filter(run_id=run_id).pending().exists():
        return None
    run = Run.objects.get(pk=run_id)
    lease = timezone.now() + timedelta(seconds=settings.RUN_LEASE_SECONDS)
    taken = Run.objects.filter(pk=run_id, status=RunStatus.AWAITING_APPROVAL).update(
        status=RunStatus.RUNNING, paused_state="", lease_until=lease
    )
    if not taken:
        raise NotAwaitingApproval()
    if run.conversation_id is not None:
        Conversation.objects.filter(pk=run.conversation_id, active_run=run_id).update(
            run_lease_until=lease
        )
    # The calls of this pause: decided, and not those of an earlier pause of the same run.
    approvals = list(
        ToolApproval.objects.filter(run_id=run_id, decided_at__isnull=False).order_by(
            "requested_at"
        )
    )
    run.status, run.lease_until = RunStatus.RUNNING, lease
    return Resumption(run=run, state=run.paused_state, approvals=approvals)


_record_in_thread = in_database_thread(_record_now)
_expire_in_thread = in_database_thread(_expire_now)


async def _resume(resumption: Resumption) -> LiveRun:
    """Load the stored state, apply the decisions, and run the rest here."""
    run = resumption.run
    spec = get_spec(run.agent)
    if spec is None:
        raise NotFound(f"No agent is mounted at {run.agent!r} any more")
    state: RunState[Any, Any] = await RunState.from_string(
        spec.agent, resumption.state, context_deserializer=context_from_json
    )
    by_call = {approval.call_id: approval for approval in resumption.approvals}
    for item in state.get_interruptions():
        approval = by_call.get(call_id_of(item))
        if approval is None:
            continue
        if approval.decision == Decision.APPROVED:
            state.approve(item, always_approve=approval.always)
        else:
            state.reject(item, rejection_message=rejection_message(approval))
    session = None
    if run.conversation_id is not None and run.session_id:
        session = DjangoSession(
            run.session_id,
            agent=run.agent,
            owner=run.owner_key,
            session_settings=spec.session_settings(),
            conversation_id=run.conversation_id,
            for_model=True,
        )
    live = LiveRun(run.id, run.session_id or None, offset=run.event_count)
    # No context: the SDK takes the one stored in the state (the owner and the client's).
    driver = RunDriver(
        run=run, live=live, agent=spec.agent, input=state, context=None, session=session
    )
    register(live)
    # A fresh context, as in ``start_run``: the run outlives the request that decided.
    live.task = asyncio.get_running_loop().create_task(
        driver.execute(), context=contextvars.Context()
    )
    return live


def rejection_message(approval: ToolApproval) -> str:
    """What the model is told instead of the tool's output: that it did not run, and why."""
    if approval.decision == Decision.EXPIRED:
        why = f"nobody approved it in time ({approval.reason})"
    else:
        why = f"it was rejected: {approval.reason}" if approval.reason else "it was rejected"
    return f"The {approval.tool_name} call did not run: {why}"
