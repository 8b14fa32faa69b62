"""A run stopping to wait for approval: what is stored, and what its stream says.

The driver (``agentsite.runs.driver``) calls these when the SDK ends a streamed run with
``interruptions`` (tools declared with ``needs_approval``). The run's ``RunState`` is stored
with its ledger row, one ``ToolApproval`` row per call waits for a decision, and the
conversation stays held by the run until then, so no other message slips in between a tool
call and its answer. Deciding and resuming is ``agentsite.runs.approvals``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agents import RunState
from agents.items import ToolApprovalItem
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from agentsite.conversations.dbthread import in_database_thread
from agentsite.conversations.sql import update_row
from agentsite.models import Conversation, Decision, Run, RunStatus, ToolApproval
from agentsite.runs.context import context_to_json
from agentsite.runs.events import WireEvent

STANDING_REASON = "approved for the rest of the conversation"
# Runs per statement: well under SQLite's bound on query parameters.
FORGET_CHUNK = 500


@dataclass
class Pause:
    """A paused run's state (``RunState.to_string``) and its unsaved approval requests."""

    state: str
    approvals: list[ToolApproval]

    @property
    def expires_at(self) -> datetime:
        return min(approval.expires_at for approval in self.approvals)


def approval_requested(approval: ToolApproval) -> WireEvent:
    """The native stream's event for one call awaiting a decision (DESIGN.md §9)."""
    return {
        "type": "approval_requested",
        "approval_id": str(approval.id),
        "tool_name": approval.tool_name,
        "tool_arguments": approval.arguments,
        "call_id": approval.call_id,
        "run_id": str(approval.run_id),
        "requested_at": approval.requested_at.isoformat(),
        "expires_at": approval.expires_at.isoformat(),
    }


def call_id_of(item: ToolApprovalItem) -> str:
    return str(item.call_id or getattr(item.raw_item, "id", "") or "")


def serialize_state(state: RunState[Any, Any]) -> str:
    return state.to_string(context_serializer=context_to_json)


def new_approvals(run_id: uuid.UUID, items: list[ToolApprovalItem]) -> list[ToolApproval]:
    now = timezone.now()
    expires_at = now + timedelta(seconds=settings.APPROVAL_TIMEOUT_SECONDS)
    return [
        ToolApproval(
            id=uuid.uuid4(),
            run_id=run_id,
            tool_name=item.tool_name or item.name or "",
            arguments=item.arguments or "",
            call_id=call_id_of(item),
            requested_at=now,
            expires_at=expires_at,
        )
        for item in items
    ]


async def apply_standing_approvals(run: Run, state: RunState[Any, Any]) -> list[ToolApprovalItem]:
    """Approve, in ``state``, the calls of tools the conversation approved "always" earlier
    (recorded as approvals decided by the server); the calls still waiting for a person."""
    items = state.get_interruptions()
    if run.conversation_id is None or not items:
        return items
    names = await _standing_in_thread(run.conversation_id, {item.tool_name for item in items})
    allowed = [item for item in items if item.tool_name in names]
    for item in allowed:
        state.approve(item)
    if allowed:
        rows = new_approvals(run.id, allowed)
        for row in rows:
            row.decision, row.decided_by, row.reason = Decision.APPROVED, "server", STANDING_REASON
            row.decided_at = row.requested_at
        await ToolApproval.objects.abulk_create(rows)
    return [item for item in items if item not in allowed]


def _standing_tools(conversation_id: int, names: set[str | None]) -> set[str]:
    return {
        name
        for name in names
        if name and ToolApproval.objects.standing(conversation_id, name).exists()
    }


_standing_in_thread = in_database_thread(_standing_tools)


def store_pause_now(run: Run, pause: Pause, outcome: Mapping[str, object]) -> None:
    """The approvals, the ledger row (status ``awaiting_approval``, the state) and the
    conversation's hold until the approvals expire: on the database thread, in the caller's
    transaction if any (the database event log's end-of-run transaction)."""
    with transaction.atomic():
        ToolApproval.objects.bulk_create(pause.approvals)
        with connection.cursor() as cursor:
            update_row(
                cursor,
                Run,
                run.id,
                {**outcome, "status": RunStatus.AWAITING_APPROVAL, "paused_state": pause.state},
            )
        if run.conversation_id is not None:
            Conversation.objects.filter(pk=run.conversation_id, active_run=run.id).update(
                run_lease_until=pause.expires_at
            )


store_pause = in_database_thread(store_pause_now)

ARGUMENTS_REMOVED = "(arguments removed with the conversation)"


def forget_paused_content(sender: object, run_ids: Sequence[uuid.UUID], **_: object) -> None:
    """Receiver of ``runs_content_deleted``: a deleted conversation's paused runs lose their
    stored state (the whole conversation is in it) and end as cancelled, and its tool calls'
    arguments go; who decided what, and when, stays."""
    for start in range(0, len(run_ids), FORGET_CHUNK):
        chunk = run_ids[start : start + FORGET_CHUNK]
        ToolApproval.objects.filter(run_id__in=chunk).pending().update(
            decision=Decision.EXPIRED,
            reason="the conversation was deleted",
            decided_by="server",
            decided_at=timezone.now(),
        )
        ToolApproval.objects.filter(run_id__in=chunk).update(arguments=ARGUMENTS_REMOVED)
        Run.objects.filter(pk__in=chunk, status=RunStatus.AWAITING_APPROVAL).update(
            status=RunStatus.CANCELLED, cancelled_by="deletion", finished_at=timezone.now()
        )
        Run.objects.filter(pk__in=chunk).exclude(paused_state="").update(paused_state="")
