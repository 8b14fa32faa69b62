"""The conversation lease (``claim_conversation`` / ``release_conversation``) on the database.

The claim is plain SQL; these pin down what it must do on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.utils import timezone

from agentsite.conversations.leases import (
    _insert_claimed,
    claim_conversation,
    is_running,
    release_conversation,
)
from agentsite.errors import ConversationBusy
from agentsite.models import Conversation, Run, RunStatus

pytestmark = pytest.mark.django_db(transaction=True)


async def claim(session_id: str = "s", token: uuid.UUID | None = None, **kwargs) -> int:
    return await claim_conversation(
        "anonymous", "chat", session_id, token or uuid.uuid4(), **kwargs
    )


async def test_a_new_conversation_is_created_already_claimed_with_model_defaults():
    token = uuid.uuid4()
    pk = await claim("new", token)
    conversation = await Conversation.objects.aget(pk=pk)
    assert (conversation.owner_key, conversation.agent, conversation.session_id) == (
        "anonymous",
        "chat",
        "new",
    )
    assert conversation.active_run == token
    assert conversation.run_lease_until > timezone.now()
    assert (conversation.item_count, conversation.next_position, conversation.title) == (0, 0, "")
    assert (conversation.requests, conversation.total_tokens) == (0, 0)
    assert conversation.created_at == conversation.updated_at
    assert await is_running("anonymous", "chat", "new")


async def test_a_held_conversation_is_busy_until_released():
    first = uuid.uuid4()
    pk = await claim("s", first)
    with pytest.raises(ConversationBusy):
        await claim("s")
    assert (await Conversation.objects.aget(pk=pk)).active_run == first
    await release_conversation(first)
    second = uuid.uuid4()
    assert await claim("s", second) == pk
    assert (await Conversation.objects.aget(pk=pk)).active_run == second
    assert await Conversation.objects.acount() == 1


async def test_the_same_session_id_of_another_owner_or_agent_is_another_conversation():
    mine = await claim("shared")
    theirs = await claim_conversation("user:2", "chat", "shared", uuid.uuid4())
    other_agent = await claim_conversation("anonymous", "research", "shared", uuid.uuid4())
    assert len({mine, theirs, other_agent}) == 3


async def test_an_expired_lease_is_taken_over_and_the_dead_run_marked_interrupted():
    dead = uuid.uuid4()
    pk = await claim("s", dead)
    past = timezone.now() - timedelta(seconds=5)
    await Run.objects.acreate(id=dead, agent="chat", conversation_id=pk, lease_until=past)
    await Conversation.objects.filter(pk=pk).aupdate(run_lease_until=past)
    token = uuid.uuid4()
    assert await claim("s", token) == pk
    assert (await Conversation.objects.aget(pk=pk)).active_run == token
    assert (await Run.objects.aget(pk=dead)).status == RunStatus.INTERRUPTED


async def test_a_live_run_is_not_interrupted_by_a_failed_claim():
    holder = uuid.uuid4()
    pk = await claim("s", holder)
    future = timezone.now() + timedelta(seconds=60)
    await Run.objects.acreate(id=holder, agent="chat", conversation_id=pk, lease_until=future)
    with pytest.raises(ConversationBusy):
        await claim("s")
    assert (await Run.objects.aget(pk=holder)).status == RunStatus.RUNNING


async def test_then_runs_in_the_claim_transaction_and_its_failure_undoes_the_claim():
    seen: list[int] = []

    def record(pk: int) -> None:
        seen.append(pk)
        raise RuntimeError("ledger write failed")

    with pytest.raises(RuntimeError):
        await claim("s", then=record)
    assert len(seen) == 1
    assert not await Conversation.objects.filter(pk=seen[0]).aexists()
    # Free for the next turn.
    await claim("s")


@sync_to_async
def insert_twice() -> tuple[int | None, int | None]:
    now = timezone.now()
    lease = now + timedelta(seconds=60)
    with transaction.atomic(), connection.cursor() as cursor:
        first = _insert_claimed(cursor, "anonymous", "chat", "race", uuid.uuid4(), lease, now)
        second = _insert_claimed(cursor, "anonymous", "chat", "race", uuid.uuid4(), lease, now)
    return first, second


async def test_a_conversation_created_by_a_concurrent_first_turn_is_not_inserted_twice():
    first, second = await insert_twice()
    assert first is not None and second is None
    assert await Conversation.objects.filter(session_id="race").acount() == 1
