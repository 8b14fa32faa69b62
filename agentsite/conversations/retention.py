"""Deleting conversations: every copy of their content, never one a run is using, and what
counts as old.

``delete_conversations`` is the one way a conversation is deleted: ``DELETE
/{agent}/session/{id}``, the admin's purge and delete actions, ``manage.py purge_sessions`` and
the erasure of an owner's data (``agentsite.governance.owner_data``) all go through it, and it
never deletes a conversation under legal hold. A conversation's content lives in its items, in
the event logs of its runs (database batches, Redis streams: every reply's text) and in the
conversation row itself (its title); all of it goes. The run ledger keeps its rows as metadata
(status, tokens, timings, model; ``conversation`` becomes null) so usage history survives, but
an error text, which may quote the conversation, is replaced.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.db import transaction
from django.db.models import QuerySet
from django.dispatch import Signal
from django.utils import timezone

from agentsite.errors import ConversationBusy, LegalHold
from agentsite.models import Conversation, ConversationItem, ConversationQuerySet, Run

DURATION = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}
# What a deleted conversation's runs keep in place of their error text.
ERROR_REMOVED = "(error details removed with the conversation)"
# Conversations deleted per statement: well under SQLite's bound on query parameters.
DELETE_CHUNK = 500


# Sent inside the deleting transaction with ``run_ids``: the runs of the deleted conversations,
# whose event logs (kept by ``agentsite.runs``, a layer above this one) hold their replies'
# text. The run layer's receiver deletes them (connected in ``AgentsiteConfig.ready``); a
# receiver that raises rolls the deletion back, so content is never half deleted.
runs_content_deleted = Signal()


@dataclass(frozen=True)
class PurgeResult:
    conversations: int
    items: int
    skipped_live: int
    # Kept because a legal hold is on them.
    skipped_held: int = 0
    # (pk, owner key) of each conversation deleted, for the audit log; empty on a dry run.
    deleted: tuple[tuple[int, str], ...] = ()


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h`` or ``90m`` → a timedelta; ``ValueError`` for anything else."""
    match = DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 30d, 12h or 90m")
    return timedelta(**{UNITS[match[2]]: int(match[1])})


def stale_conversations(older_than: timedelta, agent: str | None = None) -> QuerySet[Conversation]:
    """Conversations not updated within ``older_than`` (optionally of one agent)."""
    conversations = Conversation.objects.filter(updated_at__lt=timezone.now() - older_than)
    return conversations.filter(agent=agent) if agent else conversations


def delete_conversations(
    conversations: QuerySet[Conversation], *, dry_run: bool = False
) -> PurgeResult:
    """Delete ``conversations`` with every copy of their content, except those a run is using
    and those under legal hold.

    In one transaction, the rows locked first (PostgreSQL; SQLite's IMMEDIATE transaction holds
    the write lock), so a run cannot claim one meanwhile: the items, the conversation rows (the
    ledger's links become null), the runs' error texts, then the runs' event logs. The Redis
    streams are deleted after the rows, still inside the transaction: a Redis failure rolls the
    whole deletion back, and a run ending at that moment either wrote its last events before
    the streams went or finds its conversation gone when it records its end and deletes them
    itself (``agentsite.runs.driver``).
    """
    now = timezone.now()
    held = conversations.filter(legal_hold=True).count()
    unheld = conversations.exclude(legal_hold=True)
    live = unheld.filter(ConversationQuerySet.live_lease(now)).count()
    doomed = unheld.exclude(ConversationQuerySet.live_lease(now))
    if dry_run:
        items = ConversationItem.objects.filter(conversation__in=doomed).count()
        return PurgeResult(doomed.count(), items, skipped_live=live, skipped_held=held)
    deleted_conversations = deleted_items = 0
    with transaction.atomic():
        rows = list(doomed.select_for_update().values_list("pk", "owner_key"))
        pks = [pk for pk, _ in rows]
        run_ids: list[uuid.UUID] = []
        for start in range(0, len(pks), DELETE_CHUNK):
            chunk = pks[start : start + DELETE_CHUNK]
            runs = Run.objects.filter(conversation_id__in=chunk)
            run_ids += runs.values_list("pk", flat=True)
            runs.exclude(error="").update(error=ERROR_REMOVED)
            _, per_model = Conversation.objects.filter(pk__in=chunk).delete()
            deleted_conversations += per_model.get(Conversation._meta.label, 0)
            deleted_items += per_model.get(ConversationItem._meta.label, 0)
        runs_content_deleted.send(sender=Run, run_ids=run_ids)
    return PurgeResult(
        deleted_conversations, deleted_items, live, skipped_held=held, deleted=tuple(rows)
    )


async def delete_conversation(owner: str, agent: str, session_id: str) -> None:
    """``DELETE /{agent}/session/{id}``: the owner's conversation and all its content; nothing
    to do if there is none. ``LegalHold`` under a legal hold, ``ConversationBusy`` while a run
    holds it."""
    mine = Conversation.objects.filter(owner_key=owner, agent=agent, session_id=session_id)
    result = await sync_to_async(delete_conversations)(mine)
    if result.skipped_held:
        raise LegalHold()
    if result.skipped_live:
        raise ConversationBusy("A run is in progress for this session; cancel it first")
