"""The audit log: each staff action on content leaves one entry (who, what, when, which rows,
whose), and the log itself is read-only in the admin and shown to superusers only.

Owner export and erase are audited in test_owner_data.py, legal holds in
tests/agentsite/conversations/test_legal_hold.py.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import AsyncClient, Client
from django.utils import timezone

from agentsite.governance.audit import AUDIT_MAX_IDS, record
from agentsite.models import (
    AuditAction,
    AuditEntry,
    Conversation,
    ConversationItem,
    Feedback,
    Run,
    ToolApproval,
)
from research.models import Report

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/agentsite/conversation/"
AUDIT = "/admin/agentsite/auditentry/"


@pytest.fixture(autouse=True)
def _database_event_log(settings: Any) -> None:
    settings.REDIS_URL = ""


def conversation(session_id: str, owner: str = "key:1", age_days: int = 0) -> Conversation:
    row = Conversation.objects.create(
        agent="chat",
        session_id=session_id,
        owner_key=owner,
        item_count=1,
        updated_at=timezone.now() - timedelta(days=age_days),
    )
    ConversationItem.objects.create(
        conversation=row, position=0, role="user", data=json.dumps({"role": "user", "content": "x"})
    )
    return row


def entries() -> list[tuple[str, str, str, list[str], str]]:
    rows = AuditEntry.objects.order_by("at", "id")
    return list(rows.values_list("actor", "action", "target_type", "target_ids", "owner_key"))


def test_reading_a_transcript_is_recorded(admin_client: Client):
    row = conversation("read-me")

    assert admin_client.get(f"{CHANGELIST}{row.pk}/change/").status_code == 200

    assert entries() == [
        ("staff:admin", "transcript_viewed", "conversation", [str(row.pk)], "key:1")
    ]
    entry = AuditEntry.objects.get()
    assert entry.target_count == 1 and entry.at is not None


def test_a_missing_conversation_or_the_list_is_not_a_read(admin_client: Client):
    conversation("listed")
    assert admin_client.get(f"{CHANGELIST}999/change/").status_code == 302
    assert admin_client.get(CHANGELIST).status_code == 200
    assert entries() == []


def test_reading_an_item_is_recorded(admin_client: Client):
    item = conversation("items").items.get()

    response = admin_client.get(f"/admin/agentsite/conversationitem/{item.pk}/change/")

    assert response.status_code == 200
    assert entries() == [("staff:admin", "transcript_viewed", "item", [str(item.pk)], "key:1")]


def test_reading_a_run_is_recorded(admin_client: Client):
    """A run's page shows its error and a paused run's stored state."""
    run = Run.objects.create(agent="chat", owner_key="key:5", paused_state='{"secret": 1}')

    assert admin_client.get(f"/admin/agentsite/run/{run.pk}/change/").status_code == 200

    assert entries() == [("staff:admin", "transcript_viewed", "run", [str(run.pk)], "key:5")]


def test_reading_a_research_report_is_recorded(admin_client: Client):
    report = Report.objects.create(owner_key="user:4", query="tides")

    assert admin_client.get(f"/admin/research/report/{report.pk}/change/").status_code == 200

    assert entries() == [("staff:admin", "report_viewed", "report", [str(report.pk)], "user:4")]


def test_exports_are_recorded(admin_client: Client):
    first, second = conversation("one"), conversation("two", owner="user:2")

    assert admin_client.get(f"{CHANGELIST}{first.pk}/export/").status_code == 200
    selected = {"action": "export_selected", "_selected_action": [first.pk, second.pk], "index": 0}
    assert admin_client.post(CHANGELIST, selected).status_code == 200

    single, both = AuditEntry.objects.order_by("id")
    assert (single.action, single.target_ids, single.owner_key) == (
        "exported",
        [str(first.pk)],
        "key:1",
    )
    assert both.action == "exported" and sorted(both.target_ids) == sorted(
        [str(first.pk), str(second.pk)]
    )
    # Several owners: named in the details, not as the entry's one owner.
    assert both.owner_key == "" and both.details["owners"] == ["key:1", "user:2"]


def test_purges_are_recorded_but_not_their_preview(admin_client: Client):
    doomed = conversation("doomed")
    selected = {"action": "purge_selected", "_selected_action": [doomed.pk], "index": 0}

    admin_client.post(CHANGELIST, selected)
    assert entries() == []
    admin_client.post(CHANGELIST, {**selected, "confirm": "yes"})

    assert entries() == [("staff:admin", "purged", "conversation", [str(doomed.pk)], "key:1")]


def test_the_delete_page_is_recorded(admin_client: Client):
    doomed = conversation("doomed")

    admin_client.post(f"{CHANGELIST}{doomed.pk}/delete/", {"post": "yes"})

    assert entries() == [("staff:admin", "purged", "conversation", [str(doomed.pk)], "key:1")]


def test_purge_sessions_is_recorded():
    old, _ = conversation("old", age_days=40), conversation("new")

    call_command("purge_sessions", "--older-than", "30d", stdout=io.StringIO())
    call_command("purge_sessions", "--older-than", "30d", stdout=io.StringIO())  # nothing to do

    entry = AuditEntry.objects.get()
    assert entry.actor.startswith("cli") and entry.action == "purged"
    assert entry.target_ids == [str(old.pk)] and entry.details == {"older_than": "30d", "agent": ""}


@pytest.mark.django_db(transaction=True)
def test_approval_decisions_are_recorded(admin_client: Client):
    from tests.agentsite.web.test_approvals_http import pause

    run_id, _ = asyncio.run(pause(AsyncClient(), "audited"))
    approval = ToolApproval.objects.get(run_id=run_id)
    selected = {"action": "reject_selected", "_selected_action": [str(approval.pk)]}

    admin_client.post("/admin/agentsite/toolapproval/", {**selected, "reason": "not today"})
    # Already decided: nothing more to record.
    admin_client.post("/admin/agentsite/toolapproval/", {**selected, "reason": "again"})

    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target_type) == (
        "staff:admin",
        "approval_decided",
        "approval",
    )
    assert entry.target_ids == [str(approval.pk)] and entry.owner_key == "anonymous"
    # The reason stays on the approval row (which an erase scrubs), not in the log.
    assert entry.details == {"decision": "rejected"}


def test_reading_the_feedback_list_and_a_rating_is_recorded(admin_client: Client):
    """The feedback list and a rating's page quote the rated replies."""
    row = conversation("rated")
    rating = Feedback.objects.create(
        conversation=row, position=0, owner_key="key:1", agent="chat", rating="up"
    )

    assert admin_client.get("/admin/agentsite/feedback/").status_code == 200
    assert admin_client.get(f"/admin/agentsite/feedback/{rating.pk}/change/").status_code == 200

    assert entries() == 2 * [
        ("staff:admin", "transcript_viewed", "feedback", [str(rating.pk)], "key:1")
    ]
    assert [entry.details for entry in AuditEntry.objects.order_by("id")] == [{"page": "list"}, {}]


@pytest.mark.django_db(transaction=True)
def test_reading_the_approval_inbox_is_recorded(admin_client: Client):
    """The inbox shows the tool calls' arguments; an empty one shows nothing to record."""
    assert admin_client.get("/admin/agentsite/toolapproval/").status_code == 200
    assert entries() == []
    from tests.agentsite.web.test_approvals_http import pause

    run_id, _ = asyncio.run(pause(AsyncClient(), "inbox"))
    approval = ToolApproval.objects.get(run_id=run_id)

    assert admin_client.get("/admin/agentsite/toolapproval/").status_code == 200

    assert entries() == [
        ("staff:admin", "transcript_viewed", "approval", [str(approval.pk)], "anonymous")
    ]


def test_an_entry_keeps_a_bounded_list_of_ids_and_their_count():
    entry = record("cli:ops", AuditAction.PURGED, "conversation", range(AUDIT_MAX_IDS + 5))
    assert len(entry.target_ids) == AUDIT_MAX_IDS and entry.target_count == AUDIT_MAX_IDS + 5


# --- the log in the admin ------------------------------------------------------------------------


def test_superusers_read_the_log_but_cannot_write_it(admin_client: Client):
    entry = record("staff:someone", AuditAction.EXPORTED, "conversation", [5], ["key:9"])

    listing = admin_client.get(AUDIT)
    assert listing.status_code == 200 and "staff:someone" in listing.content.decode()
    assert "Audit log" in admin_client.get("/admin/").content.decode()
    page = admin_client.get(f"{AUDIT}{entry.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()

    assert admin_client.get(f"{AUDIT}add/").status_code == 403
    assert admin_client.post(f"{AUDIT}add/", {"actor": "x", "action": "purged"}).status_code == 403
    changed = admin_client.post(f"{AUDIT}{entry.pk}/change/", {"actor": "staff:nobody"})
    assert changed.status_code == 403
    assert admin_client.post(f"{AUDIT}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    admin_client.post(AUDIT, bulk)
    assert AuditEntry.objects.get(pk=entry.pk).actor == "staff:someone"


def test_other_staff_cannot_see_the_log(django_user_model: Any):
    from django.contrib.auth.models import Permission

    record("staff:someone", AuditAction.EXPORTED, "conversation", [5], ["key:9"])
    staff = django_user_model.objects.create_user("mod", password="pw-mod-12345", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(content_type__model="auditentry"))
    client = Client()
    client.force_login(staff)

    assert client.get(AUDIT).status_code == 403
    assert client.get(f"{AUDIT}{AuditEntry.objects.get().pk}/change/").status_code == 403
    assert "Audit log" not in client.get("/admin/").content.decode()
