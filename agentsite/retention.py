"""Deleting old conversations: what counts as old, and never one a run is using.

``manage.py purge_sessions`` and the admin's purge action both go through ``purge``, so a
conversation whose run lease is live is skipped however the purge was asked for. The run
ledger keeps its rows (their ``conversation`` becomes null), so usage history survives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from agentsite.models import Conversation, ConversationItem

DURATION = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}


@dataclass(frozen=True)
class PurgeResult:
    conversations: int
    items: int
    skipped_live: int


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h`` or ``90m`` → a timedelta; ``ValueError`` for anything else."""
    match = DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 30d, 12h or 90m")
    return timedelta(**{UNITS[match[2]]: int(match[1])})


def live_run_filter(now: datetime) -> Q:
    """Conversations a run holds right now (an expired lease belongs to a dead process)."""
    return Q(active_run__isnull=False, run_lease_until__gte=now)


def stale_conversations(older_than: timedelta, agent: str | None = None) -> QuerySet[Conversation]:
    """Conversations not updated within ``older_than`` (optionally of one agent)."""
    conversations = Conversation.objects.filter(updated_at__lt=timezone.now() - older_than)
    return conversations.filter(agent=agent) if agent else conversations


def purge(conversations: QuerySet[Conversation], *, dry_run: bool = False) -> PurgeResult:
    """Delete ``conversations`` and their items, except those with a live run."""
    now = timezone.now()
    live = conversations.filter(live_run_filter(now)).count()
    doomed = conversations.exclude(live_run_filter(now))
    if dry_run:
        items = ConversationItem.objects.filter(conversation__in=doomed).count()
        return PurgeResult(conversations=doomed.count(), items=items, skipped_live=live)
    with transaction.atomic():
        # Rows locked first (PostgreSQL), so a run cannot claim one while it is being deleted.
        list(doomed.select_for_update().values_list("pk", flat=True))
        _, per_model = doomed.delete()
    return PurgeResult(
        conversations=per_model.get(Conversation._meta.label, 0),
        items=per_model.get(ConversationItem._meta.label, 0),
        skipped_live=live,
    )
