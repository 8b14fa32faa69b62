"""Staff list, search, read and purge conversations in the Django admin."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from agentsite.models import Conversation, ConversationItem

pytestmark = pytest.mark.django_db


def make_conversation(session_id: str, agent: str, texts: list[str]) -> Conversation:
    conversation = Conversation.objects.create(
        session_id=session_id,
        agent=agent,
        title=texts[0],
        item_count=len(texts),
        next_position=len(texts),
        total_tokens=42,
    )
    ConversationItem.objects.bulk_create(
        ConversationItem(
            conversation=conversation,
            position=index,
            data=json.dumps({"role": "user" if index % 2 == 0 else "assistant", "content": text}),
            role="user" if index % 2 == 0 else "assistant",
            item_type="message",
        )
        for index, text in enumerate(texts)
    )
    return conversation


@pytest.fixture
def conversations():
    return [
        make_conversation("alpha-1", "chat", ["I like <b>bold</b> tea", "Noted"]),
        make_conversation("beta-2", "assistant", ["What time is it in Tokyo?", "Late"]),
    ]


def test_list_shows_columns(admin_client, conversations):
    page = admin_client.get("/admin/agentsite/conversation/")
    assert page.status_code == 200
    html = page.content.decode()
    for expected in ("alpha-1", "beta-2", "chat", "assistant", "anonymous", "42"):
        assert expected in html


@pytest.mark.parametrize(
    ("query", "present", "absent"),
    [
        ("alpha-1", "alpha-1", "beta-2"),
        ("Tokyo", "beta-2", "alpha-1"),
    ],
)
def test_search_by_session_id_and_content(admin_client, conversations, query, present, absent):
    html = admin_client.get("/admin/agentsite/conversation/", {"q": query}).content.decode()
    assert present in html and absent not in html


def test_filter_by_agent(admin_client, conversations):
    html = admin_client.get(
        "/admin/agentsite/conversation/", {"agent": "assistant"}
    ).content.decode()
    assert "beta-2" in html and "alpha-1" not in html


def test_list_fits_a_laptop_screen(admin_client, conversations):
    """The title is the link, owners are short, and there is one deletion action (the purge)."""
    long_owner = "browser:" + "x" * 24
    Conversation.objects.filter(pk=conversations[0].pk).update(owner_key=long_owner)
    html = admin_client.get("/admin/agentsite/conversation/").content.decode()
    change_url = f"/admin/agentsite/conversation/{conversations[0].pk}/change/"
    assert f'<a href="{change_url}"><span title="session alpha-1">I like &lt;b&gt;' in html
    assert "browser:xxxxxx…" in html and f">{long_owner}<" not in html
    assert 'value="purge_selected"' in html
    assert 'value="delete_selected"' not in html


def test_conversation_page_is_a_read_only_transcript(admin_client, conversations):
    html = admin_client.get(
        f"/admin/agentsite/conversation/{conversations[0].pk}/change/"
    ).content.decode()
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert "inline-group" not in html, "the items are listed once, in the transcript"
    assert html.index('class="transcript"') < html.index(">Details<")
    assert html.count('<li class="turn ') == 2


def test_transcript_is_readable_and_escaped(admin_client, conversations):
    page = admin_client.get(f"/admin/agentsite/conversation/{conversations[0].pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "I like &lt;b&gt;bold&lt;/b&gt; tea" in html
    assert "<b>bold</b>" not in html
    assert "Noted" in html


def test_purge_selected_asks_first_then_deletes_items(admin_client, conversations):
    body = {"action": "purge_selected", "_selected_action": [conversations[0].pk]}
    asked = admin_client.post("/admin/agentsite/conversation/", body)
    assert asked.status_code == 200
    assert "Yes, purge 1 conversation(s)" in asked.content.decode()
    assert Conversation.objects.count() == 2, "picked by hand, it still asks before deleting"
    response = admin_client.post(
        "/admin/agentsite/conversation/", {**body, "confirm": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert "Purged 1 conversation" in response.content.decode()
    assert list(Conversation.objects.values_list("session_id", flat=True)) == ["beta-2"]
    assert ConversationItem.objects.count() == 2


def test_admin_is_staff_only(conversations, django_user_model):
    anonymous = Client()
    assert anonymous.get("/admin/agentsite/conversation/").status_code == 302
    user = django_user_model.objects.create_user("visitor", password="pw-visitor-123")
    member = Client()
    member.force_login(user)
    response = member.get("/admin/agentsite/conversation/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_run_active_column_follows_the_lease(admin_client):
    """A run whose process died leaves ``active_run`` set with an expired lease: not active."""
    now = timezone.now()
    make_conversation("idle-1", "chat", ["idle-1"])
    for session_id, lease in (("live-1", now + timedelta(minutes=1)), ("dead-1", now)):
        conversation = make_conversation(session_id, "chat", [session_id])
        Conversation.objects.filter(pk=conversation.pk).update(
            active_run=uuid.uuid4(), run_lease_until=lease - timedelta(seconds=1)
        )
    html = admin_client.get("/admin/agentsite/conversation/").content.decode()
    rows = {
        session_id: row
        for row in html.split("<tr")
        for session_id in ("idle-1", "live-1", "dead-1")
        if f">{session_id}<" in row
    }
    active = {
        session_id: 'alt="True"' in row.split('class="field-running"')[1][:200]
        for session_id, row in rows.items()
    }
    assert active == {"idle-1": False, "live-1": True, "dead-1": False}


def test_default_orderings_do_not_join_the_parent_table():
    """Items and event batches sort by their foreign-key column, with no join to sort by the
    parent's own ordering."""
    from agentsite.models import RunEventBatch

    for queryset in (ConversationItem.objects.all(), RunEventBatch.objects.all()):
        assert "JOIN" not in str(queryset.query).upper()
