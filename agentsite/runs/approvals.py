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
import logging
import uuid
from typing import Any

from agents import RunState

from agentsite.conversations.session import DjangoSession
from agentsite.errors import AgentRunError, InvalidDecision, NotAwaitingApproval, NotFound
from agentsite.governance.quotas import resume_counted
from agentsite.models import Decision, Run, RunStatus, ToolApproval
from agentsite.registry import get_spec
from agentsite.runs.agent_work import AgentWork
from agentsite.runs.context import context_from_json
from agentsite.runs.decisions import (
    RESUME_FAILED,
    ApprovalDecision,
    Resumption,
    expire_run,
    fail_resume,
    record_decisions,
)
from agentsite.runs.driver import RunDriver
from agentsite.runs.hub import LiveRun, register
from agentsite.runs.pauses import call_id_of

logger = logging.getLogger(__name__)


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
    resumed = await record_decisions(run.id, decisions, by)
    live = await _resume(resumed) if resumed is not None else None
    return await Run.objects.aget(pk=run.pk), live


async def expire_overdue(run: Run) -> LiveRun | None:
    """Reject, as expired, the calls of ``run`` nobody decided in time, and resume it; the
    resumed run, or None when nothing was overdue (or another process got there first)."""
    if run.status != RunStatus.AWAITING_APPROVAL:
        return None
    if not await run.approvals.overdue().aexists():
        return None
    resumed = await expire_run(run.id)
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


async def _resume(resumption: Resumption) -> LiveRun:
    """Load the stored state, apply the decisions, and run the rest here."""
    run = resumption.run
    spec = get_spec(run.agent)
    try:
        if spec is None:
            raise LookupError(f"no agent is mounted at {run.agent!r} any more")
        state = await _decided_state(spec.agent, resumption)
    except Exception as exc:
        # The agent's code changed under the paused run (a tool renamed, an agent removed):
        # the run fails and gives its conversation back rather than hold it for its lease.
        logger.warning("run %s could not be resumed: %s", run.id, exc)
        await fail_resume(run.id)
        raise AgentRunError(RESUME_FAILED) from exc
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
    work = AgentWork(run=run, agent=spec.agent, input=state, context=None, session=session)
    # Counted again while it runs (its tokens so far are in the ledger since its pause).
    quota = await resume_counted(run.owner_key, run.id, run.total_tokens)
    driver = RunDriver(run=run, live=live, work=work)
    register(live)
    # A fresh context, as in ``start_run``: the run outlives the request that decided.
    live.task = asyncio.get_running_loop().create_task(
        driver.execute(), context=contextvars.Context()
    )
    quota.attach(live, work)
    return live


async def _decided_state(agent: Any, resumption: Resumption) -> RunState[Any, Any]:
    state: RunState[Any, Any] = await RunState.from_string(
        agent, resumption.state, context_deserializer=context_from_json
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
    return state


def rejection_message(approval: ToolApproval) -> str:
    """What the model is told instead of the tool's output: that it did not run, and why."""
    if approval.decision == Decision.EXPIRED:
        why = f"nobody approved it in time ({approval.reason})"
    else:
        why = f"it was rejected: {approval.reason}" if approval.reason else "it was rejected"
    return f"The {approval.tool_name} call did not run: {why}"
