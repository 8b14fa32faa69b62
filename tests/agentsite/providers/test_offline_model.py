"""The offline model through the real SDK Runner: tools, handoffs, structured output, memory."""

from __future__ import annotations

import json

import pytest
from agents import Agent, RunConfig, Runner
from pydantic import BaseModel, Field

from agentsite.providers.offline import OfflineProvider
from agentsite.providers.offline_replies import OFFLINE_PREFIX, instance_of
from chat.agents import assistant_agent, chat_agent

CONFIG = RunConfig(model_provider=OfflineProvider(), model="offline")


async def test_plain_reply_is_labelled():
    result = await Runner.run(chat_agent, "Hello!", run_config=CONFIG)
    assert result.final_output.startswith(OFFLINE_PREFIX)
    assert "Hello!" in result.final_output


async def test_quoted_material_keeps_code_as_it_was():
    """Spaces are tidied in prose, never in fenced code: indentation is code."""
    code = "```python\ndef handoff(agent):\n    return agent.name  # e.g. Math Specialist\n```"
    message = f"Compare:  tools\n\nsome   prose\n\n\n\n{code}"

    result = await Runner.run(chat_agent, message, run_config=CONFIG)

    assert result.final_output.endswith(f"some prose\n\n{code}")


async def test_memory_is_visible():
    first = await Runner.run(chat_agent, "I am Ada and I work as a nurse.", run_config=CONFIG)
    history = [*first.to_input_list(), {"role": "user", "content": "What work do I do?"}]
    second = await Runner.run(chat_agent, history, run_config=CONFIG)
    assert "I am Ada and I work as a nurse." in second.final_output
    assert "Earlier in this conversation" in second.final_output


async def test_named_tool_is_called_with_arguments():
    result = await Runner.run(assistant_agent, "Please calculate 2 * (3 + 4)", run_config=CONFIG)
    calls = [item for item in result.new_items if item.type == "tool_call_item"]
    assert [json.loads(call.raw_item.arguments) for call in calls] == [
        {"expression": "2 * (3 + 4)"}
    ]
    outputs = [item.output for item in result.new_items if item.type == "tool_call_output_item"]
    assert outputs == ["14"]
    assert "14" in result.final_output


async def test_time_tool_by_spaced_name():
    result = await Runner.run(
        assistant_agent, "What is the current time in Asia/Tokyo?", run_config=CONFIG
    )
    calls = [item for item in result.new_items if item.type == "tool_call_item"]
    assert json.loads(calls[0].raw_item.arguments) == {"timezone": "Asia/Tokyo"}
    assert "+09:00" in result.final_output


async def test_named_specialist_gets_the_handoff():
    result = await Runner.run(
        assistant_agent, "Ask the math specialist to calculate 6*7", run_config=CONFIG
    )
    assert result.last_agent.name == "Math Specialist"
    handoffs = [item for item in result.new_items if item.type == "handoff_output_item"]
    assert len(handoffs) == 1
    assert "42" in result.final_output


class Plan(BaseModel):
    searches: list[str] = Field(min_length=5, max_length=20)
    title: str
    score: int
    tags: list[str]


async def test_structured_output_is_schema_valid():
    agent = Agent(name="Planner", instructions="plan", output_type=Plan)
    result = await Runner.run(agent, "history of Django", run_config=CONFIG)
    assert isinstance(result.final_output, Plan)
    assert 5 <= len(result.final_output.searches) <= 20
    assert "history of Django" in result.final_output.title


def test_instance_of_handles_refs_enums_and_nullables():
    schema = {
        "type": "object",
        "properties": {
            "kind": {"enum": ["a", "b"]},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 3}]},
            "child": {"$ref": "#/$defs/Child"},
        },
        "$defs": {"Child": {"type": "object", "properties": {"ok": {"type": "boolean"}}}},
    }
    assert instance_of(schema, schema, "seed") == {"kind": "a", "maybe": 3, "child": {"ok": False}}


async def test_streaming_matches_non_streaming():
    streamed = Runner.run_streamed(chat_agent, "Stream me", run_config=CONFIG)
    deltas = [
        event.data.delta
        async for event in streamed.stream_events()
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta"
    ]
    assert "".join(deltas) == streamed.final_output
    assert streamed.context_wrapper.usage.total_tokens > 0


@pytest.mark.parametrize("delay", [0.0, 0.001])
async def test_delay_setting(delay):
    result = await Runner.run(
        chat_agent, "hi", run_config=RunConfig(model_provider=OfflineProvider(delay), model="x")
    )
    assert result.final_output.startswith(OFFLINE_PREFIX)


async def test_arithmetic_calls_the_calculator_without_naming_it():
    result = await Runner.run(assistant_agent, "what is 6*7?", run_config=CONFIG)
    calls = [item for item in result.new_items if item.type == "tool_call_item"]
    assert [json.loads(call.raw_item.arguments) for call in calls] == [{"expression": "6*7"}]
    assert "`calculate` returned 42" in result.final_output


async def test_the_specialist_computes_after_the_handoff():
    result = await Runner.run(
        assistant_agent, "ask the math specialist to compute 12*12", run_config=CONFIG
    )
    assert result.last_agent.name == "Math Specialist"
    outputs = [item.output for item in result.new_items if item.type == "tool_call_output_item"]
    assert outputs == ["144"]
    assert "144" in result.final_output


async def test_a_long_story_is_long_enough_to_watch_stream():
    """At the default OFFLINE_MODEL_DELAY (0.02 s a word) a long story streams for over 10 s,
    so the README's resume and cancel examples have time to act."""
    story = "Tell me a long story"
    result = await Runner.run(chat_agent, story, run_config=CONFIG)
    assert f"You said: “{story}”" in result.final_output
    assert len(result.final_output.split()) * 0.02 > 10
