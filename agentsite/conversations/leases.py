"""Services over whole conversations: the one-run-at-a-time lease and usage totals.

The lease is a compare-and-set on the conversation row, so it holds across processes on any
database; it expires on its own if the process holding it dies.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from agents.usage import Usage
from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from agentsite.conversations.dbthread import in_database_thread
from agentsite.conversations.sql import Columns, db_value, insert_row, update_row
from agentsite.errors import ApprovalPending, ConversationBusy, ConversationFull
from agentsite.models import Conversation, Decision, Run, RunStatus, ToolApproval

WAIT_POLL_SECONDS = 0.1


async def claim_conversation(
    owner: str,
    agent: str,
    session_id: str,
    token: uuid.UUID,
    *,
    wait: bool = False,
    then: Callable[[int], None] | None = None,
    adding: tuple[int, int] = (0, 0),
    max_bytes: int | None = None,
) -> int:
    """Give the conversation's run lease to ``token`` (a run id); returns the conversation's pk.

    The conversation is created if new. When another live run holds it, raise
    ``ConversationBusy`` — or, with ``wait``, poll until it is free (MULTITASK_WAIT_SECONDS).
    Taking over an expired lease means the process that held it died (a kill -9, a crash):
    its run is marked interrupted in the ledger then, rather than left "running" forever.

    ``then(pk)`` runs in the transaction of a successful claim: the run's ledger row is written
    with it, in one trip to the database thread, and a failed write gives the claim back.

    ``adding`` is ``(items, bytes)`` the run's input will store: a conversation that would then
    exceed MAX_CONVERSATION_ITEMS or ``max_bytes`` (the owner's cap:
    ``agentsite.governance.quotas.Limits.stored_bytes_cap``; default MAX_CONVERSATION_BYTES) is
    not claimed (``ConversationFull``), checked under the same row lock.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.MULTITASK_WAIT_SECONDS
    while True:
        pk = await _try_claim_in_thread(owner, agent, session_id, token, then, adding, max_bytes)
        if pk is not None:
            return pk
        if not wait or loop.time() >= deadline:
            raise ConversationBusy()
        await asyncio.sleep(WAIT_POLL_SECONDS)


def _try_claim(
    owner: str,
    agent: str,
    session_id: str,
    token: uuid.UUID,
    then: Callable[[int], None] | None,
    adding: tuple[int, int] = (0, 0),
    max_bytes: int | None = None,
) -> int | None:
    """Plain SQL (this runs once per turn, and the ORM's query compilation cost more than the
    statements): read the conversation's lease with its row locked (SQLite: the IMMEDIATE
    transaction holds the write lock), then take it; a new conversation is inserted already
    claimed."""
    now = timezone.now()
    lease = _lease_end(now)
    with transaction.atomic(), connection.cursor() as cursor:
        found = _lease_state(cursor, owner, agent, session_id, now)
        if found is None:
            check_room((0, 0), adding, max_bytes)
            pk = _insert_claimed(cursor, owner, agent, session_id, token, lease, now)
            if pk is None:  # created meanwhile by a concurrent first turn, which holds it
                found = _lease_state(cursor, owner, agent, session_id, now)
        if found is not None:
            pk, free, held, size, holder = found
            if held:
                refuse_if_awaiting_approval(holder, now)
            if not free:
                return None
            check_room(size, adding, max_bytes)
            update_row(cursor, Conversation, pk, {"active_run": token, "run_lease_until": lease})
            # Held but expired (free, or we would have stopped): a dead process's run.
            if held:
                Run.objects.filter(conversation_id=pk).lease_expired(now).exclude(
                    pk=token
                ).interrupt()
        assert pk is not None
        if then is not None:
            then(pk)
        return pk


C = Columns(Conversation)


def _lease_state(
    cursor: CursorWrapper, owner: str, agent: str, session_id: str, now: datetime
) -> tuple[int, bool, bool, tuple[int, int], Any] | None:
    """``(pk, free, held, (items, bytes), active_run)`` of the conversation, its row locked;
    None if there is none yet. ``free`` is the negation of ``ConversationQuerySet.live_lease``,
    written in SQL here because the claim is on every run's critical path."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    cursor.execute(
        f"SELECT {C.pk}, {C.active_run} IS NULL OR {C.run_lease_until} < %s,"
        f" {C.active_run} IS NOT NULL, {C.item_count}, {C.stored_bytes}, {C.active_run}"
        f" FROM {C.table}"
        f" WHERE {C.owner_key} = %s AND {C.agent} = %s AND {C.session_id} = %s{lock}",
        [db_value(Conversation, "run_lease_until", now), owner, agent, session_id],
    )
    row = cursor.fetchone()
    if row is None:
        return None
    return row[0], bool(row[1]), bool(row[2]), (row[3], row[4]), row[5]


def refuse_if_awaiting_approval(holder: Any, now: datetime) -> None:
    """``ApprovalPending`` when the run holding the conversation waits for a decision, whatever
    its lease says: a message in between would leave the model a tool call with no answer."""
    approval = (
        ToolApproval.objects.filter(
            run_id=holder, run__status=RunStatus.AWAITING_APPROVAL, decision=Decision.PENDING
        )
        .order_by("requested_at")
        .first()
    )
    if approval is not None:
        raise ApprovalPending(
            str(approval.run_id),
            approval.tool_name,
            str(approval.id),
            expired=approval.expires_at < now,
        )


def check_room(
    size: tuple[int, int], adding: tuple[int, int], max_bytes: int | None = None
) -> None:
    """``ConversationFull`` unless a conversation of ``size`` (items, bytes) can take
    ``adding`` more and stay within MAX_CONVERSATION_ITEMS and ``max_bytes`` (default
    MAX_CONVERSATION_BYTES)."""
    (items, stored), (more_items, more_bytes) = size, adding
    max_items = settings.MAX_CONVERSATION_ITEMS
    if max_bytes is None:
        max_bytes = settings.MAX_CONVERSATION_BYTES
    if items + more_items > max_items or stored + more_bytes > max_bytes:
        raise ConversationFull(
            f"This conversation is full: it holds {items} items ({stored} bytes) and the limit "
            f"is {max_items} items or {max_bytes} bytes; start a new conversation, or delete "
            "or rewind this one"
        )


def _insert_claimed(
    cursor: CursorWrapper,
    owner: str,
    agent: str,
    session_id: str,
    token: uuid.UUID,
    lease: datetime,
    now: datetime,
) -> int | None:
    """Insert the conversation held by ``token``; its pk, or None if it exists already."""
    conversation = Conversation(
        owner_key=owner,
        agent=agent,
        session_id=session_id,
        active_run=token,
        run_lease_until=lease,
        created_at=now,
        updated_at=now,
    )
    pk: int | None = insert_row(cursor, conversation, ignore_conflicts=True)
    return pk


_try_claim_in_thread = in_database_thread(_try_claim, lane="first")


async def renew_lease(token: uuid.UUID) -> bool:
    renewed = await Conversation.objects.filter(active_run=token).aupdate(
        run_lease_until=_lease_end(timezone.now())
    )
    return bool(renewed)


def release_now(token: uuid.UUID, usage: Usage | None = None) -> None:
    """Give the lease back and add the run's token usage to the conversation's totals (on the
    database thread, in the caller's transaction if any)."""
    counts = [0, 0, 0, 0] if usage is None else _usage_counts(usage)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {C.table} SET {C.active_run} = NULL, {C.run_lease_until} = NULL,"
            f" {C.requests} = {C.requests} + %s, {C.input_tokens} = {C.input_tokens} + %s,"
            f" {C.output_tokens} = {C.output_tokens} + %s,"
            f" {C.total_tokens} = {C.total_tokens} + %s WHERE {C.active_run} = %s",
            [*counts, db_value(Conversation, "active_run", token)],
        )


release_conversation = in_database_thread(release_now)


def _usage_counts(usage: Usage) -> list[int]:
    return [usage.requests, usage.input_tokens, usage.output_tokens, usage.total_tokens]


async def is_running(owner: str, agent: str, session_id: str) -> bool:
    return await (
        Conversation.objects.filter(owner_key=owner, agent=agent, session_id=session_id)
        .leased()
        .aexists()
    )


async def active_run(owner: str, agent: str, session_id: str) -> uuid.UUID | None:
    """The run holding the conversation right now (a live lease), if any."""
    held = Conversation.objects.filter(owner_key=owner, agent=agent, session_id=session_id)
    return await held.leased().values_list("active_run", flat=True).afirst()


def _lease_end(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.RUN_LEASE_SECONDS)
