"""A conversation under legal hold outlives every deletion: the admin's purge and delete page,
``manage.py purge_sessions``, the owner's own ``DELETE`` (409 ``legal_hold``) and the erase of
its owner's data (tests/agentsite/governance/test_owner_data.py). The hold is a list column, a
filter and an action in the admin."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.test import AsyncClient, Client
from django.utils import timezone

from agentsite.conversations.session import DjangoSession
from agentsite.errors import LegalHold
from agentsite.models import AuditEntry, Conversation, ConversationItem, Run, RunEventBatch

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/agentsite/conversation/"


def conversation(session_id: str, *, held: bool, age_days: int = 40) -> Conversation:
    """An old conversation of the anonymous owner, with an item and a run with events."""
    row = Conversation.objects.create(
        agent="chat",
        session_id=session_id,
        legal_hold=held,
        item_count=1,
        updated_at=timezone.now() - timedelta(days=age_days),
    )
    ConversationItem.objects.create(
        conversation=row, position=0, role="user", data=json.dumps({"role": "user", "content": "x"})
    )
    run = Run.objects.create(conversation=row, agent="chat", session_id=session_id)
    RunEventBatch.objects.create(run=run, first_seq=1, last_seq=1, data='[{"type": "x"}]')
    return row


def intact(row: Conversation) -> bool:
    return (
        Conversation.objects.filter(pk=row.pk).exists()
        and ConversationItem.objects.filter(conversation=row).exists()
        and RunEventBatch.objects.filter(run__conversation=row).exists()
    )


@pytest.fixture(autouse=True)
def _database_event_log(settings: Any) -> None:
    settings.REDIS_URL = ""


def test_the_admin_purge_keeps_held_conversations(admin_client: Client):
    held, free = conversation("held", held=True), conversation("free", held=False)
    selected = {"action": "purge_selected", "_selected_action": [held.pk, free.pk], "index": 0}

    preview = " ".join(admin_client.post(CHANGELIST, selected).content.decode().split())
    assert "This deletes <strong>1</strong> conversation(s)" in preview
    assert "1 conversation(s) under legal hold will be kept" in preview
    done = admin_client.post(CHANGELIST, {**selected, "confirm": "yes"}, follow=True)

    assert "Kept 1 conversation(s) under legal hold." in done.content.decode()
    assert intact(held) and not Conversation.objects.filter(pk=free.pk).exists()


def test_the_admin_purge_by_filter_keeps_held_conversations(admin_client: Client):
    held, _ = conversation("held", held=True), conversation("free", held=False)
    body = {"action": "purge_selected", "select_across": 1, "index": 0, "confirm": "yes"}
    body["_selected_action"] = list(Conversation.objects.values_list("pk", flat=True))
    admin_client.post(CHANGELIST, body)
    assert intact(held) and Conversation.objects.count() == 1


def test_a_held_conversation_has_no_delete_page(admin_client: Client):
    held = conversation("held", held=True)
    page = f"{CHANGELIST}{held.pk}/delete/"
    assert admin_client.get(page).status_code == 403
    assert admin_client.post(page, {"post": "yes"}).status_code == 403
    assert intact(held)
    assert "deletelink" not in admin_client.get(f"{CHANGELIST}{held.pk}/change/").content.decode()


def test_purge_sessions_keeps_held_conversations():
    held, free = conversation("held", held=True), conversation("free", held=False)
    out = io.StringIO()

    call_command("purge_sessions", "--older-than", "30d", stdout=out)

    assert "Purged 1 conversation(s)" in out.getvalue()
    assert "1 under legal hold" in out.getvalue()
    assert intact(held) and not Conversation.objects.filter(pk=free.pk).exists()


@pytest.mark.django_db(transaction=True)
async def test_the_owner_cannot_delete_a_held_conversation(client: AsyncClient):
    held = await sync_to_async(conversation)("held", held=True)

    response = await client.delete("/chat/session/held")

    assert response.status_code == 409
    body = response.json()
    assert body["success"] is False and body["code"] == "legal_hold"
    assert "legal hold" in body["error"]
    assert await sync_to_async(intact)(held)


@pytest.mark.django_db(transaction=True)
async def test_the_owner_cannot_rewind_a_held_conversation(client: AsyncClient):
    held = await sync_to_async(conversation)("held", held=True)

    response = await client.post("/chat/session/held/rewind")

    assert response.status_code == 409
    assert response.json()["code"] == "legal_hold"
    assert await sync_to_async(intact)(held)


@pytest.mark.django_db(transaction=True)
async def test_the_session_store_removes_no_item_of_a_held_conversation():
    held = await sync_to_async(conversation)("held", held=True)
    session = DjangoSession("held", agent="chat")

    for remove in (session.pop_item, session.clear_session):
        with pytest.raises(LegalHold):
            await remove()

    assert await sync_to_async(intact)(held)
    assert len(await session.get_items()) == 1


def test_the_hold_is_a_column_a_filter_and_an_action(admin_client: Client):
    first, _ = conversation("first", held=False), conversation("second", held=False)
    place = {"action": "place_legal_hold", "_selected_action": [first.pk], "index": 0}

    done = admin_client.post(CHANGELIST, place, follow=True).content.decode()

    assert "Placed a legal hold on 1 conversation(s)." in done
    assert "column-legal_hold" in done
    held_only = admin_client.get(f"{CHANGELIST}?legal_hold__exact=1").content.decode()
    assert "session first" in held_only and "session second" not in held_only
    assert "Legal hold" in admin_client.get(f"{CHANGELIST}{first.pk}/change/").content.decode()
    release = {**place, "action": "release_legal_hold"}
    admin_client.post(CHANGELIST, release)
    assert not Conversation.objects.filter(legal_hold=True).exists()
    holds = AuditEntry.objects.filter(action__startswith="legal_hold").order_by("at", "id")
    actions = list(holds.values_list("action", "target_ids"))
    assert actions == [
        ("legal_hold_placed", [str(first.pk)]),
        ("legal_hold_released", [str(first.pk)]),
    ]
