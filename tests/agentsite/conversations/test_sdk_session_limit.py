"""The SDK's session-limit tests (openai-agents-python ``tests/memory/test_session_limit.py``),
run against ``SQLiteSession`` (the control) and ``DjangoSession``, through all three Runner
methods. All of them are ported."""

from __future__ import annotations

from typing import cast

import pytest
from agents import Agent, RunConfig
from agents.items import TResponseInputItem
from agents.memory import SessionSettings
from agents.testing import ScriptedModel, assistant_message

from tests.agentsite.conversations.sdk_runner import RUNNER_METHODS, run_agent
from tests.agentsite.conversations.session_stores import Store

pytest_plugins = ["tests.agentsite.conversations.session_store_fixture"]


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_limit_parameter(store: Store, runner_method):
    session = store.session("limit_test")
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    for turn in (1, 2, 3):
        model.enqueue([assistant_message(f"Reply {turn}")])
        await run_agent(runner_method, agent, f"Message {turn}", session=session)
    assert len(await session.get_items()) == 6

    model.enqueue([assistant_message("Reply 4")])
    await run_agent(
        runner_method,
        agent,
        "Message 4",
        session=session,
        run_config=RunConfig(session_settings=SessionSettings(limit=2)),
    )

    last_input = model.calls[-1].input
    assert len(last_input) == 3
    assert last_input[0].get("content") == "Message 3"
    assert last_input[1].get("content")[0]["text"] == "Reply 3"
    assert last_input[2].get("content") == "Message 4"


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_limit_drops_unmatched_history_function_call_output(
    store: Store, runner_method
):
    """A limit boundary must not pass an output whose matching call was excluded."""
    session = store.session("limit_tool_pair")
    history = cast(
        list[TResponseInputItem],
        [
            {"role": "user", "content": "What is the weather?"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": "{}",
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "It is sunny.", "annotations": []}],
            },
        ],
    )
    await session.add_items(history)
    assert await session.get_items(limit=2) == history[-2:]

    model = ScriptedModel()
    model.enqueue([assistant_message("Tomorrow is sunny too.")])
    await run_agent(
        runner_method,
        Agent(name="test", model=model),
        "What about tomorrow?",
        session=session,
        run_config=RunConfig(session_settings=SessionSettings(limit=2)),
    )

    assert model.calls[-1].input == [
        history[-1],
        {"role": "user", "content": "What about tomorrow?"},
    ]


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_limit_zero(store: Store, runner_method):
    session = store.session("limit_zero_test")
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    for turn in (1, 2):
        model.enqueue([assistant_message(f"Reply {turn}")])
        await run_agent(runner_method, agent, f"Message {turn}", session=session)

    model.enqueue([assistant_message("Reply 3")])
    await run_agent(
        runner_method,
        agent,
        "Message 3",
        session=session,
        run_config=RunConfig(session_settings=SessionSettings(limit=0)),
    )

    last_input = model.calls[-1].input
    assert [item.get("content") for item in last_input] == ["Message 3"]


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_limit_none_gets_all_history(store: Store, runner_method):
    session = store.session("limit_none_test")
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    for turn in range(1, 6):
        model.enqueue([assistant_message(f"Reply {turn}")])
        await run_agent(runner_method, agent, f"Message {turn}", session=session)
    assert len(await session.get_items()) == 10

    model.enqueue([assistant_message("Reply 6")])
    await run_agent(
        runner_method,
        agent,
        "Message 6",
        session=session,
        run_config=RunConfig(session_settings=SessionSettings(limit=None)),
    )

    last_input = model.calls[-1].input
    assert len(last_input) == 11
    assert last_input[0].get("content") == "Message 1"
    assert last_input[-1].get("content") == "Message 6"


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_limit_larger_than_history(store: Store, runner_method):
    session = store.session("limit_large_test")
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    model.enqueue([assistant_message("Reply 1")])
    await run_agent(runner_method, agent, "Message 1", session=session)

    model.enqueue([assistant_message("Reply 2")])
    await run_agent(
        runner_method,
        agent,
        "Message 2",
        session=session,
        run_config=RunConfig(session_settings=SessionSettings(limit=100)),
    )

    last_input = model.calls[-1].input
    assert len(last_input) == 3
    assert last_input[0].get("content") == "Message 1"
    assert last_input[1].get("content")[0]["text"] == "Reply 1"
    assert last_input[2].get("content") == "Message 2"
