"""Domain rules with one home each: whether a run's lease is live, the usage counters, and the
text of a stored item."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from agentsite.conversations.items import item_text, message_text
from agentsite.conversations.session import _first_user_text
from agentsite.models import Conversation, Run
from agentsite.providers.offline_replies import _messages
from research.models import Report

pytestmark = pytest.mark.django_db


def conversations_by_lease() -> dict[str, Conversation]:
    now = timezone.now()
    leases = {"free": None, "live": now + timedelta(minutes=1), "expired": now - timedelta(1)}
    return {
        name: Conversation.objects.create(
            session_id=name,
            agent="chat",
            active_run=None if lease is None else uuid.uuid4(),
            run_lease_until=lease,
        )
        for name, lease in leases.items()
    }


def test_a_live_lease_is_a_named_run_with_an_unexpired_lease():
    conversations_by_lease()
    assert {c.session_id for c in Conversation.objects.leased()} == {"live"}
    assert {c.session_id for c in Conversation.objects.idle()} == {"free", "expired"}
    flags = {c.session_id: c.run_live for c in Conversation.objects.with_run_live()}
    assert flags == {"free": False, "live": True, "expired": False}


def test_a_run_lease_expired_only_once_its_time_has_passed():
    now = timezone.now()
    Run.objects.create(agent="chat", lease_until=now + timedelta(minutes=1), session_id="live")
    Run.objects.create(agent="chat", lease_until=now - timedelta(seconds=1), session_id="dead")
    Run.objects.create(agent="chat", lease_until=None, session_id="ended")
    assert [run.session_id for run in Run.objects.lease_expired()] == ["dead"]


def test_usage_is_the_same_four_counters_everywhere():
    counters = {"requests": 2, "input_tokens": 30, "output_tokens": 12, "total_tokens": 42}
    conversation = Conversation.objects.create(session_id="u", agent="chat", **counters)
    run = Run.objects.create(agent="chat", cached_tokens=5, reasoning_tokens=3, **counters)
    report = Report.objects.create(query="q", **counters)
    for row in (conversation, run, report):
        assert row.usage == counters


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("plain words", "plain words"),
        (
            [
                {"type": "input_text", "text": "look at"},
                {"type": "input_image", "image_url": "data:..."},
                {"type": "input_text", "text": "this"},
            ],
            "look at this",
        ),
        ([{"type": "refusal", "refusal": "I can't"}], "I can't"),
        ([{"type": "output_text", "text": None}, "stray"], ""),
        (None, ""),
    ],
)
def test_the_text_of_a_message(content, text):
    assert message_text(content) == text
    message = {"role": "user", "content": content}
    assert item_text(message) == text
    assert _first_user_text([message]) == " ".join(text.split())
    if content is not None:
        assert _messages([message]) == [("user", text)]


def test_the_text_of_other_items():
    assert item_text({"type": "function_call", "name": "add", "arguments": "{}"}) == "add({})"
    assert item_text({"type": "function_call_output", "output": "3"}) == "→ 3"
