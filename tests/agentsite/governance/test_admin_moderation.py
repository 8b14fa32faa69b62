"""Moderation in the admin: readable transcripts, JSON export, purge by filter, daily usage."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from agentsite.models import Conversation, ConversationItem, Run, RunStatus

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/agentsite/conversation/"

HANDOFF_ITEMS = [
    {"role": "user", "content": "explain <script>1+1</script> step by step"},
    {
        "type": "function_call",
        "name": "transfer_to_math_specialist",
        "arguments": "{}",
        "call_id": "call_h",
    },
    {"type": "function_call_output", "call_id": "call_h", "output": '{"assistant": "Math"}'},
    {
        "type": "function_call",
        "name": "calculate",
        "arguments": '{"expression": "1+1"}',
        "call_id": "call_c",
    },
    {"type": "function_call_output", "call_id": "call_c", "output": "2"},
    {"role": "assistant", "content": [{"type": "output_text", "text": "It is 2"}]},
]


def make_conversation(session_id, items, *, agent="assistant", age_days=0, **fields):
    when = timezone.now() - timedelta(days=age_days)
    conversation = Conversation.objects.create(
        session_id=session_id,
        agent=agent,
        item_count=len(items),
        next_position=len(items),
        updated_at=when,
        **fields,
    )
    ConversationItem.objects.bulk_create(
        ConversationItem(
            conversation=conversation,
            position=index,
            data=json.dumps(item),
            role=item.get("role", ""),
            item_type=item.get("type", "message"),
            interrupted=item.get("interrupted_marker", False),
        )
        for index, item in enumerate(items)
    )
    return conversation


def test_transcript_shows_turn_kinds_escaped_with_raw_json(admin_client):
    items = [
        *HANDOFF_ITEMS,
        {"role": "assistant", "content": "Half a rep", "interrupted_marker": 1},
    ]
    conversation = make_conversation("turns", items)
    ConversationItem.objects.filter(position=len(items) - 1).update(interrupted=True)
    html = admin_client.get(f"{CHANGELIST}{conversation.pk}/change/").content.decode()
    for kind in (
        "turn-user",
        "turn-handoff",
        "turn-tool-call",
        "turn-tool-output",
        "turn-assistant",
    ):
        assert f'class="turn {kind}"' in html
    assert html.count('class="turn turn-handoff"') == 2
    assert "calculate({&quot;expression&quot;: &quot;1+1&quot;})" in html
    assert "It is 2" in html
    assert "interrupted: the client stopped the run here" in html
    assert "&lt;script&gt;1+1&lt;/script&gt;" in html and "<script>1+1" not in html
    assert html.count("<summary>raw JSON</summary>") == len(items)
    assert "&quot;call_id&quot;: &quot;call_h&quot;" in html


def test_export_button_downloads_conversation_items_and_runs(admin_client):
    conversation = make_conversation("exp", HANDOFF_ITEMS, total_tokens=77)
    Run.objects.create(
        conversation=conversation, agent="assistant", status=RunStatus.COMPLETED, total_tokens=77
    )
    page = admin_client.get(f"{CHANGELIST}{conversation.pk}/change/").content.decode()
    export_url = f"{CHANGELIST}{conversation.pk}/export/"
    assert f'href="{export_url}"' in page
    response = admin_client.get(export_url)
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    body = json.loads(response.content)
    assert body["session_id"] == "exp" and body["total_tokens"] == 77
    assert [item["data"] for item in body["items"]] == HANDOFF_ITEMS
    assert [run["status"] for run in body["runs"]] == ["completed"]


def test_export_action_returns_selected_conversations(admin_client):
    first = make_conversation("one", HANDOFF_ITEMS[:1])
    second = make_conversation("two", HANDOFF_ITEMS[:2])
    make_conversation("three", HANDOFF_ITEMS[:1])
    response = admin_client.post(
        CHANGELIST,
        {"action": "export_selected", "_selected_action": [first.pk, second.pk], "index": 0},
    )
    assert response.status_code == 200
    body = json.loads(response.content)
    assert sorted(conversation["session_id"] for conversation in body) == ["one", "two"]
    assert sorted(len(conversation["items"]) for conversation in body) == [1, 2]


def test_export_requires_staff(django_user_model):
    conversation = make_conversation("private", HANDOFF_ITEMS)
    user = django_user_model.objects.create_user("visitor", password="pw-visitor-123")
    member = Client()
    member.force_login(user)
    response = member.get(f"{CHANGELIST}{conversation.pk}/export/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_purge_all_matching_filter_confirms_then_deletes_only_matching(admin_client):
    old_chat = [make_conversation(f"chat-{n}", HANDOFF_ITEMS[:2], agent="chat") for n in range(3)]
    keep = make_conversation("assistant-1", HANDOFF_ITEMS[:2], agent="assistant")
    live = make_conversation(
        "chat-live",
        HANDOFF_ITEMS[:1],
        agent="chat",
        active_run=uuid.uuid4(),
        run_lease_until=timezone.now() + timedelta(minutes=5),
    )
    form = {
        "action": "purge_selected",
        "select_across": "1",
        "index": 0,
        "_selected_action": [old_chat[0].pk],
    }
    confirm = admin_client.post(f"{CHANGELIST}?agent=chat", form)
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "This deletes <strong>3</strong> conversation(s)" in html
    assert "<strong>6</strong> item(s)" in html
    assert "1 conversation(s) with a run in progress" in html
    assert Conversation.objects.count() == 5

    done = admin_client.post(f"{CHANGELIST}?agent=chat", {**form, "confirm": "yes"}, follow=True)
    text = done.content.decode()
    assert "Purged 3 conversation(s) with 6 item(s)." in text
    assert "Kept 1 conversation(s) with a run in progress." in text
    assert set(Conversation.objects.values_list("pk", flat=True)) == {keep.pk, live.pk}
    assert ConversationItem.objects.count() == 3


def test_purge_selected_by_hand_keeps_live_conversation(admin_client):
    idle = make_conversation("idle", HANDOFF_ITEMS[:1])
    live = make_conversation(
        "busy",
        HANDOFF_ITEMS[:1],
        active_run=uuid.uuid4(),
        run_lease_until=timezone.now() + timedelta(minutes=5),
    )
    response = admin_client.post(
        CHANGELIST,
        {
            "action": "purge_selected",
            "_selected_action": [idle.pk, live.pk],
            "index": 0,
            "confirm": "yes",
        },
        follow=True,
    )
    assert "Purged 1 conversation(s) with 1 item(s)." in response.content.decode()
    assert list(Conversation.objects.values_list("session_id", flat=True)) == ["busy"]


def make_run(status, tokens, *, days_ago=0, model="gpt-x", agent="chat"):
    return Run.objects.create(
        agent=agent,
        status=status,
        model=model,
        total_tokens=tokens,
        started_at=timezone.now() - timedelta(days=days_ago),
    )


def test_usage_view_counts_runs_tokens_failures_per_day(admin_client):
    make_run(RunStatus.COMPLETED, 100)
    make_run(RunStatus.FAILED, 10)
    make_run(RunStatus.CANCELLED, 5)
    make_run(RunStatus.COMPLETED, 400, days_ago=2)
    make_run(RunStatus.COMPLETED, 999, days_ago=40)
    changelist = admin_client.get("/admin/agentsite/run/").content.decode()
    assert 'href="/admin/agentsite/run/usage/"' in changelist
    response = admin_client.get("/admin/agentsite/run/usage/", {"days": 7})
    assert response.status_code == 200
    rows = response.context["rows"]
    assert len(rows) == 7
    today, two_days_ago = rows[-1][0], rows[-3][0]
    assert (today.runs, today.failed, today.cancelled, today.total_tokens) == (3, 1, 1, 115)
    assert (two_days_ago.runs, two_days_ago.total_tokens) == (1, 400)
    assert rows[-3][1] == 100 and rows[-1][1] == round(100 * 115 / 400)
    assert response.context["totals"]["total_tokens"] == 515
    html = response.content.decode()
    assert 'style="width: 100%"' in html
    # The chart is CSS only: nothing loaded from another origin.
    assert 'src="http' not in html and 'href="http' not in html


def test_usage_view_breaks_down_by_agent_and_model(admin_client):
    make_run(RunStatus.COMPLETED, 100, model="gpt-small")
    make_run(RunStatus.CANCELLED, 20, model="gpt-small")
    make_run(RunStatus.COMPLETED, 500, model="gpt-big", agent="assistant")
    make_run(RunStatus.COMPLETED, 7, model="gpt-small", agent="assistant")
    make_run(RunStatus.COMPLETED, 999, model="gpt-small", days_ago=40)
    response = admin_client.get("/admin/agentsite/run/usage/", {"days": 30})
    rows = [
        (row["agent"], row["model"], row["runs"], row["cancelled"], row["total_tokens"])
        for row in response.context["breakdown"]
    ]
    assert rows == [
        ("assistant", "gpt-big", 1, 0, 500),
        ("chat", "gpt-small", 2, 1, 120),
        ("assistant", "gpt-small", 1, 0, 7),
    ]
    assert "By agent and model" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status__exact": "failed"}, {"failed"}),
        ({"status__exact": "cancelled"}, {"cancelled"}),
        ({"model": "gpt-big"}, {"completed"}),
    ],
)
def test_run_ledger_filters(admin_client, query, expected):
    make_run(RunStatus.COMPLETED, 1, model="gpt-small")
    make_run(RunStatus.COMPLETED, 1, model="gpt-big")
    make_run(RunStatus.FAILED, 1, model="gpt-small")
    make_run(RunStatus.CANCELLED, 1, model="gpt-small")
    response = admin_client.get("/admin/agentsite/run/", query)
    assert response.status_code == 200
    shown = response.context["cl"].result_list
    assert {run.status for run in shown} == expected
    assert len(shown) == 1


def test_transcript_and_export_read_branch_by_branch(admin_client):
    conversation = make_conversation("forked", HANDOFF_ITEMS[:1])
    # A fork at the first turn: branch 2 holds only its new version, at a later position.
    ConversationItem.objects.create(
        conversation=conversation,
        branch=2,
        position=1,
        data=json.dumps({"role": "user", "content": "the edited question"}),
        role="user",
    )
    ConversationItem.objects.create(
        conversation=conversation,
        branch=1,
        position=2,
        data=json.dumps({"role": "assistant", "content": "main's answer"}),
        role="assistant",
    )
    html = admin_client.get(f"{CHANGELIST}{conversation.pk}/change/").content.decode()
    assert html.index("main&#x27;s answer") < html.index("the edited question")
    assert "(branch 2)" in html
    body = json.loads(admin_client.get(f"{CHANGELIST}{conversation.pk}/export/").content)
    assert [(item["branch"], item["position"]) for item in body["items"]] == [
        (1, 0),
        (1, 2),
        (2, 1),
    ]
