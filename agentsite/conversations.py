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
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from agentsite.errors import ConversationBusy
from agentsite.models import Conversation, Run

WAIT_POLL_SECONDS = 0.1


async def claim_conversation(
    owner: str,
    agent: str,
    session_id: str,
    token: uuid.UUID,
    *,
    wait: bool = False,
    then: Callable[[int], None] | None = None,
) -> int:
    """Give the conversation's run lease to ``token`` (a run id); returns the conversation's pk.

    The conversation is created if new. When another live run holds it, raise
    ``ConversationBusy`` — or, with ``wait``, poll until it is free (MULTITASK_WAIT_SECONDS).
    Taking over an expired lease means the process that held it died (a kill -9, a crash):
    its run is marked interrupted in the ledger then, rather than left "running" forever.

    ``then(pk)`` runs in the transaction of a successful claim: the run's ledger row is written
    with it, in one trip to the database thread, and a failed write gives the claim back.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.MULTITASK_WAIT_SECONDS
    while True:
        pk = await _try_claim_in_thread(owner, agent, session_id, token, then)
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
) -> int | None:
    with transaction.atomic():
        conversation, _ = Conversation.objects.get_or_create(
            owner_key=owner, agent=agent, session_id=session_id
        )
        now = timezone.now()
        taken = Conversation.objects.filter(
            Q(active_run__isnull=True) | Q(run_lease_until__lt=now), pk=conversation.pk
        ).update(active_run=token, run_lease_until=_lease_end(now))
        if not taken:
            return None
        # Held when read (but expired, or the update would have failed): a dead process's run.
        if conversation.active_run is not None:
            Run.objects.filter(conversation_id=conversation.pk, lease_until__lt=now).exclude(
                pk=token
            ).interrupt()
        if then is not None:
            then(conversation.pk)
        return conversation.pk


_try_claim_in_thread = sync_to_async(_try_claim)


async def renew_lease(token: uuid.UUID) -> bool:
    renewed = await Conversation.objects.filter(active_run=token).aupdate(
        run_lease_until=_lease_end(timezone.now())
    )
    return bool(renewed)


async def release_conversation(token: uuid.UUID, usage: Usage | None = None) -> None:
    """Give the lease back and add the run's token usage to the conversation's totals."""
    changes: dict[str, object] = {"active_run": None, "run_lease_until": None}
    if usage is not None:
        changes.update(
            requests=F("requests") + usage.requests,
            input_tokens=F("input_tokens") + usage.input_tokens,
            output_tokens=F("output_tokens") + usage.output_tokens,
            total_tokens=F("total_tokens") + usage.total_tokens,
        )
    await Conversation.objects.filter(active_run=token).aupdate(**changes)


async def is_running(owner: str, agent: str, session_id: str) -> bool:
    return await Conversation.objects.filter(
        owner_key=owner,
        agent=agent,
        session_id=session_id,
        active_run__isnull=False,
        run_lease_until__gte=timezone.now(),
    ).aexists()


def _lease_end(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.RUN_LEASE_SECONDS)


async def list_conversations(
    owner: str, agent: str, page: int, page_size: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the owner's conversations with this agent, most recently updated first."""
    mine = Conversation.objects.filter(owner_key=owner, agent=agent)
    total = await mine.acount()
    start = (page - 1) * page_size
    now = timezone.now()
    rows = [
        {
            "session_id": conversation.session_id,
            "title": conversation.title,
            "item_count": conversation.item_count,
            "created_at": conversation.created_at.isoformat(),
            "updated_at": conversation.updated_at.isoformat(),
            "active": conversation.active_run is not None
            and conversation.run_lease_until is not None
            and conversation.run_lease_until >= now,
        }
        async for conversation in mine.order_by("-updated_at", "-pk")[start : start + page_size]
    ]
    return rows, total
