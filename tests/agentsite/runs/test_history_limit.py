"""Per-agent history limits: the model sees the latest N items, the store keeps them all."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from agents import Agent
from agents.testing import assistant_message

from agentsite.conversations.session import DjangoSession
from agentsite.registry import AgentSpec

pytestmark = pytest.mark.django_db(transaction=True)


async def post(client, path: str, body: dict):
    return await client.post(path, body, content_type="application/json")


async def seed(session_id: str, count: int) -> None:
    """``count`` stored turns (user/assistant pairs), as earlier runs would have left them."""
    session = DjangoSession(session_id, agent="chat")
    for n in range(count):
        await session.add_items(
            [
                {"role": "user", "content": f"question {n}"},
                {"role": "assistant", "content": f"answer {n}"},
            ]
        )


def texts(model_input) -> list[str]:
    return [item["content"] for item in model_input if isinstance(item.get("content"), str)]


async def test_run_sends_only_latest_items_but_stores_everything(
    client, settings, use_scripted_model
):
    settings.SESSION_HISTORY_LIMITS = {"chat": 4}
    model = use_scripted_model([[assistant_message("ok")]])
    await seed("long", 10)
    response = await post(client, "/chat/run", {"input": "newest", "session_id": "long"})
    assert response.status_code == 200
    assert texts(model.last_call.input) == [
        "question 8",
        "answer 8",
        "question 9",
        "answer 9",
        "newest",
    ]
    stored = (await client.get("/chat/session/long")).json()
    assert stored["message_count"] == 22
    assert stored["messages"][0]["content"] == "question 0"
    latest = (await client.get("/chat/session/long", {"limit": 3})).json()
    assert [m.get("content") for m in latest["messages"][:2]] == ["answer 9", "newest"]
    assert latest["message_count"] == 3


async def test_other_agents_and_unset_limits_send_the_whole_history(
    client, settings, use_scripted_model
):
    settings.SESSION_HISTORY_LIMITS = {"assistant": 2}
    model = use_scripted_model([[assistant_message("ok")]])
    await seed("whole", 5)
    await post(client, "/chat/run", {"input": "newest", "session_id": "whole"})
    assert len(texts(model.last_call.input)) == 11


@pytest.mark.parametrize(
    ("code_default", "configured", "expected"),
    [
        (None, {}, None),
        (50, {}, 50),
        (50, {"demo": 10}, 10),
        (50, {"demo": 0}, None),
        (None, {"other": 5}, None),
    ],
)
def test_session_settings_precedence(settings, code_default, configured, expected):
    settings.SESSION_HISTORY_LIMITS = configured
    spec = AgentSpec("demo", Agent(name="Demo"), history_limit=code_default)
    assert spec.session_settings().limit == expected


def test_env_variable_sets_limits():
    """The documented variable format, read by the settings module in a fresh interpreter."""
    code = "from django.conf import settings; print(settings.SESSION_HISTORY_LIMITS)"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "agentsite.settings",
            "SESSION_HISTORY_LIMITS": "chat=50,assistant=100",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'chat': 50, 'assistant': 100}"
