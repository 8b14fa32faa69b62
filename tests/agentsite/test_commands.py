"""``manage.py purge_sessions`` and ``manage.py ask``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from agents.testing import ModelStep, assistant_message
from django.core.management import CommandError, call_command
from django.utils import timezone

from agentsite.conversations.retention import parse_duration
from agentsite.models import Conversation, ConversationItem, Run, RunStatus
from tests.support.server import fresh_database, run_manage

ROOT = Path(__file__).resolve().parents[2]


def conversation(session_id, *, agent="chat", age=timedelta(0), items=2, live=False):
    made = Conversation.objects.create(
        session_id=session_id,
        agent=agent,
        item_count=items,
        next_position=items,
        updated_at=timezone.now() - age,
        active_run=uuid.uuid4() if live else None,
        run_lease_until=timezone.now() + timedelta(minutes=5) if live else None,
    )
    ConversationItem.objects.bulk_create(
        ConversationItem(
            conversation=made, position=n, data=json.dumps({"role": "user", "content": "hi"})
        )
        for n in range(items)
    )
    return made


def purge(*args: str) -> str:
    out = io.StringIO()
    call_command("purge_sessions", *args, stdout=out)
    return out.getvalue()


def sessions() -> set[str]:
    return set(Conversation.objects.values_list("session_id", flat=True))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90))],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.django_db
class TestPurgeSessions:
    @pytest.fixture(autouse=True)
    def history(self):
        conversation("old-chat", age=timedelta(days=40))
        conversation("old-assistant", agent="assistant", age=timedelta(days=40), items=3)
        conversation("new-chat", age=timedelta(days=1))
        # An expired lease belongs to a dead process: that conversation is fair game.
        stale = conversation("old-dead-run", age=timedelta(days=40), items=1)
        Conversation.objects.filter(pk=stale.pk).update(
            active_run=uuid.uuid4(), run_lease_until=timezone.now() - timedelta(minutes=1)
        )
        conversation("old-live", age=timedelta(days=40), live=True)

    def test_older_than_deletes_old_keeps_new_and_live(self):
        output = purge("--older-than", "30d")
        assert sessions() == {"new-chat", "old-live"}
        assert "Purged 3 conversation(s) with 6 item(s)" in output
        assert "skipped 1 with a live run" in output
        assert ConversationItem.objects.count() == 4

    def test_agent_filter(self):
        output = purge("--older-than", "30d", "--agent", "assistant")
        assert sessions() == {"old-chat", "new-chat", "old-dead-run", "old-live"}
        assert "Purged 1 conversation(s) with 3 item(s)" in output

    def test_dry_run_counts_and_deletes_nothing(self):
        output = purge("--older-than", "12h", "--dry-run")
        assert "Would purge 4 conversation(s) with 8 item(s)" in output
        assert len(sessions()) == 5

    def test_minutes_and_hours(self):
        purge("--older-than", "2000h")
        assert len(sessions()) == 5
        purge("--older-than", "90m")
        assert sessions() == {"old-live"}

    def test_applies_retention_setting(self, settings):
        settings.SESSION_RETENTION_DAYS = 30
        output = purge()
        assert "Purged 3 conversation(s)" in output
        assert sessions() == {"new-chat", "old-live"}

    def test_refuses_without_age_or_retention(self, settings):
        settings.SESSION_RETENTION_DAYS = None
        with pytest.raises(CommandError, match=r"--older-than .* SESSION_RETENTION_DAYS"):
            purge()
        assert len(sessions()) == 5

    def test_rejects_bad_duration(self):
        with pytest.raises(CommandError, match="not a duration"):
            purge("--older-than", "30 days")
        assert len(sessions()) == 5

    def test_runs_stay_in_the_ledger(self):
        old = Conversation.objects.get(session_id="old-chat")
        run = Run.objects.create(conversation=old, agent="chat", status=RunStatus.COMPLETED)
        purge("--older-than", "30d")
        run.refresh_from_db()
        assert run.conversation_id is None and run.status == RunStatus.COMPLETED


def ask(*args: str) -> str:
    out = io.StringIO()
    call_command("ask", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
class TestAsk:
    def test_streams_answer_and_records_run_under_cli_owner(self):
        output = ask("chat", "My name is Ada", "--session", "cli-1")
        assert "You said: “My name is Ada”" in output
        assert "[done] session cli-1" in output
        run = Run.objects.get()
        assert (run.owner_key, run.agent, run.status) == ("cli", "chat", RunStatus.COMPLETED)
        stored = Conversation.objects.get(session_id="cli-1")
        assert stored.owner_key == "cli" and stored.item_count == 2
        second = ask("chat", "What is my name?", "--session", "cli-1")
        assert "My name is Ada" in second
        assert Conversation.objects.get(pk=stored.pk).item_count == 4

    def test_streams_text_deltas_in_order(self, use_scripted_model):
        use_scripted_model([[assistant_message("Hello from the script")]])
        output = ask("chat", "hi")
        assert output.startswith("Hello from the script\n")
        assert Conversation.objects.count() == 0

    def test_shows_tool_calls(self):
        output = ask("assistant", "please calculate 6*7")
        assert '[tool] calculate({"expression": "6*7"})' in output
        assert "[tool output] 42" in output

    def test_a_call_needing_approval_is_shown_with_its_approval_id(self):
        output = ask(
            "assistant", "email bob@example.com that the report is ready", "--session", "cli-2"
        )
        run = Run.objects.get()
        approval = run.approvals.get()
        assert "[approval needed] send_email(" in output
        assert f"approval {approval.pk} of run {run.pk}" in output
        assert run.status == RunStatus.AWAITING_APPROVAL

    def test_failed_run_is_an_error(self, use_scripted_model):
        use_scripted_model([ModelStep.raise_error(RuntimeError("upstream exploded"))])
        with pytest.raises(CommandError, match="Run failed"):
            ask("chat", "hi", "--session", "doomed")
        assert Run.objects.get().status == RunStatus.FAILED

    def test_unknown_agent(self):
        with pytest.raises(CommandError, match="known agents: assistant, chat"):
            ask("nobody", "hi")
        assert Run.objects.count() == 0


def test_ask_exits_non_zero_on_failure():
    result = subprocess.run(
        [sys.executable, "manage.py", "ask", "nobody", "hi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "No agent 'nobody'" in result.stderr


@pytest.mark.slow
def test_ask_prints_the_answer_and_no_log_lines(tmp_path: Path):
    """A person reads the answer on a terminal where stdout and stderr mix: the run's INFO log
    line must not land in it (only -v 2 shows it)."""
    with fresh_database(tmp_path) as database_url:
        result = run_manage(database_url, "ask", "assistant", "what is 6*7?")
    assert result.returncode == 0, result.stderr
    assert "[tool output] 42" in result.stdout
    assert "INFO" not in result.stderr + result.stdout, result.stderr
