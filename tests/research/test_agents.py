"""The three research agents on their own, with ``agents.testing.ScriptedModel``."""

from __future__ import annotations

import json

import pytest
from agents import RunConfig, Runner
from agents.exceptions import ModelBehaviorError
from agents.testing import ScriptedModel, assistant_message, function_call

from research.agents import (
    MAX_SEARCHES,
    ReportData,
    WebSearchPlan,
    knowledge_base_search_agent,
    planner_agent,
    planner_input,
    research_model,
    search_input,
    writer_agent,
    writer_input,
)
from research.search import SearchContext, SourceRegistry
from tests.research.conftest import FixedProvider


def config(model: ScriptedModel) -> RunConfig:
    return RunConfig(model_provider=FixedProvider(model), model="scripted")


def plan_json(count: int) -> str:
    return json.dumps(
        {"searches": [{"reason": f"reason {n}", "query": f"query {n}"} for n in range(count)]}
    )


async def test_planner_returns_a_plan_of_5_to_20_searches():
    model = ScriptedModel([[assistant_message(plan_json(6))]])
    result = await Runner.run(planner_agent, planner_input("walrus"), run_config=config(model))
    assert isinstance(result.final_output, WebSearchPlan)
    assert [item.query for item in result.final_output.searches][:2] == ["query 0", "query 1"]
    call = model.first_call
    assert call.input[-1]["content"] == "Research query: walrus"
    schema = call.output_schema.json_schema()
    searches = schema["properties"]["searches"]
    assert (searches["minItems"], searches["maxItems"]) == (5, MAX_SEARCHES)


@pytest.mark.parametrize("count", [4, 21])
async def test_planner_output_outside_the_bounds_is_refused(count):
    model = ScriptedModel([[assistant_message(plan_json(count))]])
    with pytest.raises(ModelBehaviorError):
        await Runner.run(planner_agent, planner_input("walrus"), run_config=config(model))


@pytest.mark.django_db(transaction=True)
async def test_search_agent_summarises_and_may_search_again():
    from research.models import Document

    await Document.objects.acreate(
        title="Walrus", source_url="https://kb/walrus", body="The walrus operator := assigns."
    )
    model = ScriptedModel(
        [
            [function_call("search_knowledge_base", {"query": "walrus"}, call_id="c1")],
            [assistant_message("The walrus operator assigns inside expressions [2].")],
        ]
    )
    context = SearchContext(registry=SourceRegistry())
    context.registry.number("Given passage", "https://kb/given")
    result = await Runner.run(
        knowledge_base_search_agent,
        search_input("walrus", "it is new", "[1] Given passage — https://kb/given\ntext"),
        context=context,
        run_config=config(model),
    )
    assert result.final_output == "The walrus operator assigns inside expressions [2]."
    first = model.first_call.input[-1]["content"]
    assert first.startswith("Search term: walrus\nReason: it is new\n\n[1] Given passage")
    tool_output = next(
        item for item in model.last_call.input if item.get("type") == "function_call_output"
    )
    assert tool_output["output"].startswith("[2] Walrus — https://kb/walrus")
    assert context.found == [{"number": 2, "title": "Walrus", "url": "https://kb/walrus"}]


async def test_writer_returns_report_data_from_the_summaries():
    report = {
        "short_summary": "Short.",
        "markdown_report": "# Report\n\nWalrus [1].",
        "follow_up_questions": ["What else?"],
    }
    model = ScriptedModel([[assistant_message(json.dumps(report))]])
    searches = [
        {"index": 1, "query": "walrus", "status": "completed", "summary": "It assigns [1]."},
        {"index": 2, "query": "broken", "status": "failed", "summary": "", "error": "x"},
    ]
    sources = [{"number": 1, "title": "Walrus", "url": "https://kb/walrus"}]
    text = writer_input("walrus?", searches, sources)
    result = await Runner.run(writer_agent, text, run_config=config(model))
    assert result.final_output == ReportData(**report)
    assert text == (
        "Research query: walrus?\n\n## Search 1: walrus\nIt assigns [1].\n\n"
        "## Sources\n[1] Walrus — https://kb/walrus"
    )


def test_each_agent_model_can_be_overridden(settings):
    settings.MODEL_PROVIDER = "openai"
    settings.AGENT_MODEL = "default-model"
    settings.AGENT_MODEL_OVERRIDES = {}
    assert research_model("planner") == "default-model"
    settings.AGENT_MODEL_OVERRIDES = {"research": "research-model", "research_writer": "writer"}
    assert research_model("planner") == "research-model"
    assert research_model("writer") == "writer"
    settings.MODEL_PROVIDER = "offline"
    assert research_model("writer") == "offline"
