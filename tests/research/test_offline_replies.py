"""The offline model's generic handling of material and search-term fields, which the research
pipeline relies on to run end to end with no key (agentsite/providers/offline_replies.py)."""

from __future__ import annotations

from agents import Agent, RunConfig, Runner
from pydantic import BaseModel, Field

from agentsite.providers.offline import OfflineProvider
from agentsite.providers.offline_replies import OFFLINE_PREFIX, subject_and_material
from chat.agents import chat_agent

CONFIG = RunConfig(model_provider=OfflineProvider(), model="offline")
MATERIAL = (
    "Topic: tides\n\n[1] Moon — https://kb/moon\nThe   moon pulls the oceans.\n\n"
    "[2] Sun — https://kb/sun\nThe sun adds a smaller pull."
)


class Brief(BaseModel):
    title: str
    short_summary: str
    markdown_report: str
    search_queries: list[str] = Field(min_length=4)


class Plan(BaseModel):
    class Item(BaseModel):
        reason: str
        query: str

    searches: list[Item] = Field(min_length=5)


def test_subject_and_material():
    assert subject_and_material(MATERIAL)[0] == "tides"
    assert subject_and_material(MATERIAL)[1].startswith("[1] Moon")
    assert subject_and_material("Just one line") == ("Just one line", "")
    assert subject_and_material("") == ("", "")


async def test_a_plain_reply_quotes_the_material_it_was_given():
    result = await Runner.run(chat_agent, MATERIAL, run_config=CONFIG)
    reply = result.final_output
    assert reply.startswith(f"{OFFLINE_PREFIX} On “tides”")
    assert "[1] Moon — https://kb/moon\nThe moon pulls the oceans." in reply
    assert "[2] Sun — https://kb/sun" in reply


async def test_long_form_fields_quote_the_material_and_short_ones_do_not():
    agent = Agent(name="Writer", instructions="write", output_type=Brief)
    brief = (await Runner.run(agent, MATERIAL, run_config=CONFIG)).final_output
    assert brief.title == f"{OFFLINE_PREFIX} title for: tides"
    assert brief.short_summary == f"{OFFLINE_PREFIX} short summary for: tides"
    assert brief.markdown_report.startswith(f"{OFFLINE_PREFIX} markdown report for: tides\n\n")
    assert "The sun adds a smaller pull." in brief.markdown_report
    assert all(OFFLINE_PREFIX not in query for query in brief.search_queries)


async def test_list_items_get_distinct_selections_of_the_key_words():
    agent = Agent(name="Planner", instructions="plan", output_type=Plan)
    question = "Research query: How do Python generators pause execution?"
    plan = (await Runner.run(agent, question, run_config=CONFIG)).final_output
    queries = [item.query for item in plan.searches]
    assert queries[0] == "Python generators pause execution"
    assert len(set(queries)) == len(queries) == 5
    assert all(OFFLINE_PREFIX not in query and "How" not in query for query in queries)
    assert plan.searches[1].reason == f"{OFFLINE_PREFIX} reason for: {queries[1]}"


async def test_very_long_material_is_cut_at_a_line():
    lines = "\n".join(f"line {number} " + "word " * 20 for number in range(400))
    result = await Runner.run(chat_agent, f"Notes\n\n{lines}", run_config=CONFIG)
    assert len(result.final_output) < 4200
    assert result.final_output.endswith(" …")
    assert "line 0 word" in result.final_output
