"""Per-owner export and erase (data-subject requests): the bundle holds everything of the owner,
the erase leaves nothing of it readable — items, run events in the database and in Redis,
paused states, errors, tool-call arguments, research reports — except what is under legal hold
or in use; from the admin's owner page and from ``manage.py``."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command
from django.test import AsyncClient, Client
from django.utils import timezone

from agentsite.governance.owner_data import erase_owner_data, export_owner_data, parse_owner
from agentsite.models import (
    AuditEntry,
    Conversation,
    ConversationItem,
    Run,
    RunEventBatch,
    RunStatus,
    ToolApproval,
)
from agentsite.runs.eventlog import redis_key
from research.models import Report
from tests.support.eventlog import BACKENDS, async_event_log_on, event_log_on

pytestmark = pytest.mark.django_db

# This module's own Redis database (the coordinator's allocation for the privacy tests).
REDIS_DB_PRIVACY = 14
OWNER = "key:7"
OTHER = "user:3"
SECRET = "SECRET-PLUM-42"
HELD = "HELD-FIG-17"
OTHERS_SECRET = "OTHER-PEAR-99"
OWNER_PAGE = "/admin/agentsite/conversation/owner-data/"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    """Run events kept in the database, or in a Redis database of this module's own."""
    with event_log_on(request.param, REDIS_DB_PRIVACY, settings) as name:
        yield name


def log_events(run: Run, texts: list[str]) -> None:
    """The run's wire events, where the configured event log keeps them."""
    from django.conf import settings

    events = [{"type": "text_delta", "delta": text} for text in texts]
    if not settings.REDIS_URL:
        RunEventBatch.objects.create(
            run=run, first_seq=1, last_seq=len(events), data=json.dumps(events)
        )
        return
    from redis import Redis

    with Redis.from_url(settings.REDIS_URL) as redis:
        for seq, event in enumerate(events, start=1):
            redis.xadd(redis_key(run.pk), {"e": json.dumps(event)}, id=f"{seq}-0")


def conversation_with_run(owner: str, session_id: str, secret: str, **fields: Any) -> Run:
    """A conversation whose title, items, run error, paused state, events and tool call all
    quote ``secret``; its run."""
    conversation = Conversation.objects.create(
        owner_key=owner, agent="chat", session_id=session_id, title=f"About {secret}", **fields
    )
    for position, (role, text) in enumerate([("user", "Tell me"), ("assistant", secret)]):
        ConversationItem.objects.create(
            conversation=conversation,
            position=position,
            role=role,
            data=json.dumps({"role": role, "content": text}),
        )
    run = Run.objects.create(
        conversation=conversation,
        owner_key=owner,
        agent="chat",
        session_id=session_id,
        status=RunStatus.FAILED,
        error=f"the model said {secret}",
        paused_state=f'{{"state": "{secret}"}}',
        total_tokens=42,
    )
    ToolApproval.objects.create(
        run=run,
        tool_name="send_email",
        arguments=json.dumps({"body": secret}),
        call_id="call_1",
        expires_at=timezone.now(),
        decision="rejected",
        reason=f"not {secret}",
        decided_by=owner,
    )
    log_events(run, ["Once", f" {secret}"])
    return run


def research_report(owner: str, secret: str) -> Report:
    """A finished research report and its ledger row (same id) with its events."""
    report = Report.objects.create(
        owner_key=owner,
        query=f"what is {secret}",
        markdown_report=f"# {secret}",
        status="completed",
    )
    run = Run.objects.create(
        id=report.pk, owner_key=owner, agent="research", status=RunStatus.COMPLETED
    )
    log_events(run, [f"report on {secret}"])
    return report


def stored_text() -> str:
    """Everything the database and the Redis event log hold, as text."""
    from django.conf import settings

    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    text = dump.getvalue()
    if settings.REDIS_URL:
        from redis import Redis

        with Redis.from_url(settings.REDIS_URL) as redis:
            for key in redis.scan_iter():
                text += str(redis.xrange(key))
    return text


def test_owner_keys_are_validated():
    for good in (
        "key:7",
        "user:12",
        "anonymous",
        "cli",
        "browser:3fA9_x-Qz8bC1dE2fG3hI4jK",
        " key:7 ",
    ):
        assert parse_owner(good) == good.strip()
    for bad in ("", "key:", "key:abc", "user:0", "staff:alice", "browser:", "Anonymous", "key:1 x"):
        with pytest.raises(ValueError, match="key:<id>, user:<id>, browser:<id>, anonymous or cli"):
            parse_owner(bad)


def test_the_export_holds_every_conversation_run_report_and_approval(backend: str):
    run = conversation_with_run(OWNER, "s1", SECRET)
    report = research_report(OWNER, SECRET)
    conversation_with_run(OTHER, "s1", OTHERS_SECRET)

    bundle = export_owner_data(OWNER, "staff:tester")

    assert bundle["owner"] == OWNER
    assert json.loads(json.dumps(bundle)) == bundle  # JSON-ready as it is
    [conversation] = bundle["conversations"]
    assert conversation["title"] == f"About {SECRET}"
    assert [item["data"]["content"] for item in conversation["items"]] == ["Tell me", SECRET]
    runs = {entry["id"]: entry for entry in bundle["runs"]}
    assert set(runs) == {str(run.pk), str(report.pk)}
    assert [event["delta"] for event in runs[str(run.pk)]["events"]] == ["Once", f" {SECRET}"]
    assert runs[str(run.pk)]["error"] == f"the model said {SECRET}"
    assert "paused_state" not in runs[str(run.pk)]
    assert runs[str(report.pk)]["events"] == [
        {"type": "text_delta", "delta": f"report on {SECRET}"}
    ]
    [exported_report] = bundle["reports"]
    assert exported_report["markdown_report"] == f"# {SECRET}"
    [approval] = bundle["tool_approvals"]
    assert approval["arguments"] == json.dumps({"body": SECRET})
    assert approval["run_id"] == str(run.pk)
    assert OTHERS_SECRET not in json.dumps(bundle)
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.owner_key) == ("staff:tester", "owner_exported", OWNER)
    assert entry.details == {"conversations": 1, "runs": 2, "reports": 1}


def test_the_erase_leaves_nothing_of_the_owner_readable(backend: str):
    erased_run = conversation_with_run(OWNER, "s1", SECRET)
    report = research_report(OWNER, SECRET)
    held_run = conversation_with_run(OWNER, "held", HELD, legal_hold=True)
    others_run = conversation_with_run(OTHER, "s1", OTHERS_SECRET)
    assert SECRET in stored_text()

    result = erase_owner_data(OWNER, "staff:tester")

    assert (result.conversations, result.items, result.runs, result.reports) == (1, 2, 2, 1)
    assert result.skipped_held == 1 and result.skipped_live == 0
    text = stored_text()
    assert SECRET not in text
    # The ledger keeps its rows as metadata.
    ledger = Run.objects.get(pk=erased_run.pk)
    assert ledger.conversation_id is None and ledger.total_tokens == 42
    assert ledger.status == RunStatus.FAILED and ledger.paused_state == ""
    assert Run.objects.filter(pk=report.pk).exists()
    assert not Report.objects.filter(pk=report.pk).exists()
    approval = ToolApproval.objects.get(run=erased_run)
    assert (approval.tool_name, approval.decision) == ("send_email", "rejected")
    assert not RunEventBatch.objects.filter(run_id__in=[erased_run.pk, report.pk]).exists()
    # What is under legal hold, and other owners' data, is all there.
    for kept_run, secret in ((held_run, HELD), (others_run, OTHERS_SECRET)):
        assert text.count(secret) >= 7, secret  # title, item, error, state, args, reason, events
        assert Run.objects.get(pk=kept_run.pk).conversation_id is not None
    entry = AuditEntry.objects.get(action="owner_erased")
    assert entry.owner_key == OWNER and entry.details["skipped_held"] == 1
    assert SECRET not in json.dumps(entry.details)


def test_the_erase_keeps_conversations_and_research_in_progress():
    now = timezone.now()
    busy = conversation_with_run(
        OWNER, "busy", SECRET, active_run=uuid.uuid4(), run_lease_until=now + timedelta(minutes=1)
    )
    researching = Run.objects.create(
        owner_key=OWNER, agent="research", lease_until=now + timedelta(minutes=1)
    )
    Report.objects.create(id=researching.pk, owner_key=OWNER, query=SECRET)

    result = erase_owner_data(OWNER, "staff:tester")

    assert result.skipped_live == 2 and result.conversations == 0 and result.reports == 0
    assert Run.objects.get(pk=busy.pk).error == f"the model said {SECRET}"
    assert Report.objects.filter(pk=researching.pk).exists()


def test_a_dry_run_erases_nothing(settings: Any):
    settings.REDIS_URL = ""
    conversation_with_run(OWNER, "s1", SECRET)

    preview = erase_owner_data(OWNER, "staff:tester", dry_run=True)

    assert (preview.conversations, preview.items, preview.runs) == (1, 2, 1)
    assert SECRET in stored_text().replace(AuditEntry._meta.label_lower, "")
    assert not AuditEntry.objects.exists()


# --- manage.py ----------------------------------------------------------------------------------


def test_export_command_writes_the_bundle(settings: Any, tmp_path: Any):
    settings.REDIS_URL = ""
    conversation_with_run(OWNER, "s1", SECRET)
    out = io.StringIO()

    call_command("export_owner_data", OWNER, stdout=out)
    assert json.loads(out.getvalue())["conversations"][0]["title"] == f"About {SECRET}"

    target = tmp_path / "owner.json"
    call_command("export_owner_data", OWNER, "--output", str(target), stderr=io.StringIO())
    assert json.loads(target.read_text())["owner"] == OWNER
    entries = AuditEntry.objects.filter(action="owner_exported")
    assert entries.count() == 2 and all(e.actor.startswith("cli") for e in entries)


@pytest.mark.parametrize("command", ["export_owner_data", "erase_owner_data"])
def test_commands_refuse_a_malformed_owner(command: str):
    with pytest.raises(CommandError, match="not an owner key: use key:<id>, user:<id>"):
        call_command(command, "alice", "--yes") if "erase" in command else call_command(
            command, "alice"
        )
    assert not AuditEntry.objects.exists()


def test_erase_command_asks_first(settings: Any, monkeypatch: pytest.MonkeyPatch):
    settings.REDIS_URL = ""
    conversation_with_run(OWNER, "s1", SECRET)
    conversation_with_run(OWNER, "held", HELD, legal_hold=True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    with pytest.raises(CommandError, match="Nothing erased"):
        call_command("erase_owner_data", OWNER, stdout=io.StringIO())
    assert Conversation.objects.filter(owner_key=OWNER).count() == 2

    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    out = io.StringIO()
    call_command("erase_owner_data", OWNER, stdout=out)
    assert "Erased 1 conversation(s)" in out.getvalue()
    assert "Kept 1 conversation(s) under legal hold" in out.getvalue()
    assert list(Conversation.objects.values_list("session_id", flat=True)) == ["held"]


def test_erase_command_with_yes_does_not_ask(settings: Any, monkeypatch: pytest.MonkeyPatch):
    settings.REDIS_URL = ""
    conversation_with_run(OWNER, "s1", SECRET)
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("asked"))
    call_command("erase_owner_data", OWNER, "--yes", stdout=io.StringIO())
    assert not Conversation.objects.exists()
    assert AuditEntry.objects.get().action == "owner_erased"


# --- the admin's owner page ---------------------------------------------------------------------


def test_the_owner_page_exports_a_bundle(admin_client: Client, settings: Any):
    settings.REDIS_URL = ""
    conversation_with_run(OWNER, "s1", SECRET)
    assert 'name="owner"' in admin_client.get(f"{OWNER_PAGE}?owner={OWNER}").content.decode()

    response = admin_client.post(OWNER_PAGE, {"owner": OWNER, "do": "export"})

    assert response.status_code == 200
    assert 'filename="owner-key-7.json"' in response["Content-Disposition"]
    assert json.loads(response.content)["conversations"][0]["title"] == f"About {SECRET}"
    assert AuditEntry.objects.get().actor == "staff:admin"


def test_the_owner_page_erases_after_asking(admin_client: Client, settings: Any):
    settings.REDIS_URL = ""
    conversation_with_run(OWNER, "s1", SECRET)

    asked = admin_client.post(OWNER_PAGE, {"owner": OWNER, "do": "erase"})
    assert asked.status_code == 200
    assert "Would erase 1 conversation(s)" in asked.content.decode()
    assert 'name="confirm" value="yes"' in asked.content.decode()
    assert Conversation.objects.exists() and not AuditEntry.objects.exists()

    done = admin_client.post(
        OWNER_PAGE, {"owner": OWNER, "do": "erase", "confirm": "yes"}, follow=True
    )
    assert "Erased 1 conversation(s)" in done.content.decode()
    assert not Conversation.objects.exists()
    assert SECRET not in stored_text()


def test_the_owner_page_refuses_a_malformed_owner(admin_client: Client):
    response = admin_client.post(OWNER_PAGE, {"owner": "bob", "do": "erase", "confirm": "yes"})
    assert response.status_code == 400
    assert "is not an owner key" in response.content.decode()


def test_erasing_needs_the_delete_permission(django_user_model: Any, settings: Any):
    from django.contrib.auth.models import Permission

    settings.REDIS_URL = ""
    conversation_with_run(OWNER, "s1", SECRET)
    reader = django_user_model.objects.create_user(
        "reader", password="pw-reader-123", is_staff=True
    )
    reader.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    client = Client()
    client.force_login(reader)

    assert "Erase" not in client.get(OWNER_PAGE).content.decode()
    refused = client.post(OWNER_PAGE, {"owner": OWNER, "do": "erase", "confirm": "yes"})
    assert refused.status_code == 403
    assert Conversation.objects.exists()


def test_the_list_action_opens_the_page_for_one_owner(admin_client: Client, settings: Any):
    settings.REDIS_URL = ""
    mine = conversation_with_run(OWNER, "s1", SECRET).conversation_id
    theirs = conversation_with_run(OTHER, "s1", OTHERS_SECRET).conversation_id
    action = {"action": "owner_data_of_selected", "index": 0}

    one = admin_client.post(
        "/admin/agentsite/conversation/", {**action, "_selected_action": [mine]}
    )
    assert one.status_code == 302 and one["Location"] == f"{OWNER_PAGE}?owner=key%3A7"
    two = admin_client.post(
        "/admin/agentsite/conversation/",
        {**action, "_selected_action": [mine, theirs]},
        follow=True,
    )
    assert "exactly one owner" in two.content.decode()


# --- a real run, end to end ---------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
async def run_backend(request: pytest.FixtureRequest, settings: Any) -> AsyncIterator[str]:
    """``backend`` for async tests: the event log's Redis client belongs to the test's loop."""
    async with async_event_log_on(request.param, REDIS_DB_PRIVACY, settings) as name:
        yield name


@pytest.mark.django_db(transaction=True)
async def test_an_erased_owners_run_can_no_longer_be_replayed(run_backend: str):
    from tests.agentsite.conversations.test_deletion import finished_run, replay

    client = AsyncClient()
    run_id, reply = await finished_run(client, "to-erase")
    assert (await replay(client, run_id)).status_code == 200

    result = await sync_to_async(erase_owner_data)("anonymous", "staff:tester")

    assert result.conversations == 1 and result.runs == 1
    gone = await replay(client, run_id)
    assert gone.status_code == 404 and "no longer kept" in gone.json()["error"]
    assert reply not in await sync_to_async(stored_text)()
    assert (await client.get("/chat/session/to-erase")).json()["messages"] == []
