"""The admin's approval inbox: pending calls listed with agent, owner, tool, arguments and age;
staff approve or reject (with a reason) and the decided rows keep who, when and why."""

from __future__ import annotations

import asyncio

import pytest
from django.core import mail
from django.test import AsyncClient

from agentsite.models import Run, ToolApproval
from tests.agentsite.web.test_approvals_http import pause, read_sse

pytestmark = pytest.mark.django_db(transaction=True)
INBOX = "/admin/agentsite/toolapproval/"


def paused(session_id: str) -> ToolApproval:
    run_id, _ = asyncio.run(pause(AsyncClient(), session_id))
    return ToolApproval.objects.select_related("run").get(run_id=run_id)


def final_output(run_id) -> str:
    async def read() -> str:
        response = await AsyncClient().get(f"/assistant/runs/{run_id}/stream")
        return (await read_sse(response))[-1]["final_output"]

    return asyncio.run(read())


def test_the_inbox_lists_pending_calls(admin_client):
    paused("admin-1")
    page = admin_client.get(INBOX).content.decode()
    for shown in ("send_email", "assistant", "anonymous", "bob@example.com", "pending"):
        assert shown in page, shown


def test_staff_approve_a_call_and_the_run_finishes(admin_client):
    approval = paused("admin-2")
    response = admin_client.post(
        INBOX, {"action": "approve_selected", "_selected_action": [str(approval.pk)]}, follow=True
    )
    assert "Approved 1 tool call(s)." in response.content.decode()
    approval.refresh_from_db()
    assert approval.decision == "approved" and approval.decided_by == "staff:admin"
    assert approval.decided_at is not None
    assert Run.objects.get(pk=approval.run_id).status == "completed"
    assert [message.to for message in mail.outbox] == [["bob@example.com"]]
    # Decided calls leave the default (pending) view and show who decided.
    assert "bob@example.com" not in admin_client.get(INBOX).content.decode()
    decided = admin_client.get(INBOX + "?decision=approved").content.decode()
    assert "staff:admin" in decided


def test_staff_reject_a_call_with_a_reason(admin_client):
    approval = paused("admin-3")
    selected = {"action": "reject_selected", "_selected_action": [str(approval.pk)]}
    asked = admin_client.post(INBOX, selected)
    assert asked.status_code == 200 and 'name="reason"' in asked.content.decode()

    admin_client.post(INBOX, {**selected, "reason": "Bob left the company"}, follow=True)
    approval.refresh_from_db()
    assert approval.decision == "rejected" and approval.reason == "Bob left the company"
    assert approval.decided_by == "staff:admin"
    assert mail.outbox == []
    assert Run.objects.get(pk=approval.run_id).status == "completed"
    assert "Bob left the company" in final_output(approval.run_id)
    page = admin_client.get(INBOX + "?decision=rejected").content.decode()
    assert "Bob left the company" in page and "staff:admin" in page


def test_deciding_twice_in_the_admin_is_reported(admin_client):
    approval = paused("admin-4")
    selected = {"action": "approve_selected", "_selected_action": [str(approval.pk)]}
    admin_client.post(INBOX, selected)
    again = admin_client.post(INBOX + "?decision=all", selected, follow=True).content.decode()
    assert "were decided already" in again
    assert len(mail.outbox) == 1
