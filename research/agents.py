"""The research agents — planner, search agent, writer — and the inputs they are given.

Adapted from the Agents SDK's research_bot example. The search agent comes in two kinds, one
per backend: over the local knowledge base it is handed the passages the manager retrieved
(and may search again with ``search_knowledge_base``); over the web it must use OpenAI's
hosted ``WebSearchTool``. Inputs are plain data — a first line naming the subject, then the
material — and the instructions say what to do with it, so any model writes from the same
passages.
"""

from __future__ import annotations

from typing import Any

from agents import Agent, ModelSettings, WebSearchTool
from django.conf import settings
from pydantic import BaseModel, Field

from agentsite.providers.selection import is_offline, model_name_for
from research.search import Backend, SearchContext, search_knowledge_base

MIN_SEARCHES = 5
MAX_SEARCHES = 20


class WebSearchItem(BaseModel):
    reason: str = Field(description="Why this search helps answer the query")
    query: str = Field(description="The search term to use")


class WebSearchPlan(BaseModel):
    searches: list[WebSearchItem] = Field(
        min_length=MIN_SEARCHES,
        max_length=MAX_SEARCHES,
        description=f"Between {MIN_SEARCHES} and {MAX_SEARCHES} searches that together answer "
        "the query",
    )


class ReportData(BaseModel):
    short_summary: str = Field(description="A 2–3 sentence summary of the findings")
    markdown_report: str = Field(description="The full report, in Markdown, citing sources [n]")
    follow_up_questions: list[str] = Field(description="Suggested topics to research further")


planner_agent: Agent[Any] = Agent(
    name="Research planner",
    instructions=(
        "You are a research planner. Given a research query, come up with a set of searches "
        f"that together answer it best: between {MIN_SEARCHES} and {MAX_SEARCHES}. For each, "
        "give the search term and the reason it matters. Search terms are short and specific: "
        "the words a document about the answer would contain."
    ),
    output_type=WebSearchPlan,
)

SEARCH_INSTRUCTIONS = (
    "You are a research assistant. You are given a search term, the reason for the search and "
    "numbered passages from a knowledge base. Write a concise summary (2–3 paragraphs, under "
    "300 words) of what the passages say about the search term, citing every fact with the "
    "number of its passage, like [3]. Use only the passages; if they do not answer the search "
    "term, say so. You may call search_knowledge_base for more passages; cite those by the "
    "numbers it gives. The summary is read by someone writing a report: capture the substance, "
    "no preamble, no commentary of your own."
)

knowledge_base_search_agent: Agent[SearchContext] = Agent(
    name="Knowledge base search agent",
    instructions=SEARCH_INSTRUCTIONS,
    tools=[search_knowledge_base],
)

web_search_agent: Agent[Any] = Agent(
    name="Web search agent",
    instructions=(
        "You are a research assistant. Given a search term, you search the web for it and write "
        "a concise summary (2–3 paragraphs, under 300 words) of the results, capturing the main "
        "points and citing the pages you used. The summary is read by someone writing a report: "
        "capture the substance, no preamble, no commentary of your own."
    ),
    tools=[WebSearchTool()],
    model_settings=ModelSettings(tool_choice="required"),
)

writer_agent: Agent[Any] = Agent(
    name="Research writer",
    instructions=(
        "You are a senior researcher writing a cohesive report for a research query. You are "
        "given the query, the summaries of the searches done for it and the numbered list of "
        "their sources. Write a detailed report in Markdown (several sections, as long as the "
        "material supports), built only from the summaries; cite sources by number, like [2], "
        "and end with a Sources section listing the numbered sources you cited. Also write a "
        "2–3 sentence summary and suggest follow-up questions."
    ),
    output_type=ReportData,
)


def research_model(role: str) -> str:
    """The model of one research agent (planner, search, writer): AGENT_MODEL_OVERRIDES
    ``research_<role>``, else ``research``, else AGENT_MODEL."""
    if is_offline():
        return model_name_for("research")
    return settings.AGENT_MODEL_OVERRIDES.get(f"research_{role}") or model_name_for("research")


def search_agent_for(backend: Backend) -> Agent[Any]:
    return web_search_agent if backend == "web" else knowledge_base_search_agent


def planner_input(query: str) -> str:
    return f"Research query: {query}"


def search_input(query: str, reason: str, passages: str) -> str:
    """A search agent's input: the term and reason, then the passages (none for web search)."""
    head = f"Search term: {query}\nReason: {reason}"
    return f"{head}\n\n{passages}" if passages else head


def writer_input(query: str, searches: list[dict[str, Any]], sources: list[dict[str, Any]]) -> str:
    """The writer's input: the query, each usable search summary, then the numbered sources."""
    sections = [f"Research query: {query}"]
    for search in searches:
        if search.get("status") == "completed" and search.get("summary"):
            sections.append(f"## Search {search['index']}: {search['query']}\n{search['summary']}")
    if sources:
        listed = "\n".join(f"[{source['number']}] {describe_source(source)}" for source in sources)
        sections.append(f"## Sources\n{listed}")
    return "\n\n".join(sections)


def describe_source(source: dict[str, Any]) -> str:
    title, url = source.get("title") or "", source.get("url") or ""
    return f"{title} — {url}" if title and url else title or url
