"""Recording approval decisions and taking a paused run back up: the database side of
``agentsite.runs.approvals``, each step one transaction on the database thread.

Every write is a compare-and-set (a call is decided only while pending, a run is taken up only
while awaiting approval), so two processes deciding at once cannot both win.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agentsite.conversations.dbthread import in_database_thread
from agentsite.conversations.leases import release_now
from agentsite.errors import InvalidDecision, NotAwaitingApproval
from agentsite.models import Conversation, Decision, Run, RunStatus, ToolApproval

EXPIRED_BY = "server"
RESUME_FAILED = (
    "The paused run could not be resumed: the agent's definition changed since it paused"
)


@dataclass(frozen=True)
class ApprovalDecision:
    """One decision as a transport received it."""

    approval_id: uuid.UUID
    approve: bool
    reason: str = ""
    always: bool = False


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


record_decisions = in_database_thread(_record_now)
expire_run = in_database_thread(_expire_now)


def _fail_now(run_id: uuid.UUID) -> None:
    with transaction.atomic():
        Run.objects.filter(pk=run_id).update(
            status=RunStatus.FAILED,
            error=RESUME_FAILED,
            finished_at=timezone.now(),
            lease_until=None,
        )
        release_now(run_id)


fail_resume = in_database_thread(_fail_now)
