"""Full-text search of the knowledge base, on whichever database the suite runs against
(SQLite FTS5 by default; PostgreSQL tsvector/GIN with DATABASE_URL=postgres://…)."""

from __future__ import annotations

import json

import pytest
from agents import RunContextWrapper
from django.db import connection

from research.errors import InvalidQuery, SearchUnavailable
from research.models import Document
from research.search import (
    SearchContext,
    SourceRegistry,
    format_snippets,
    search_backend,
    search_documents,
    search_knowledge_base,
    search_terms,
)

pytestmark = pytest.mark.django_db(transaction=True)

FILLER = "Unrelated words about gardens, rivers and mountains fill this page. " * 30


async def make(title: str, body: str, url: str = "") -> Document:
    return await Document.objects.acreate(title=title, body=body, source_url=url)


async def titles(query: str, limit: int = 10) -> list[str]:
    return [snippet.title for snippet in await search_documents(query, limit)]


async def test_title_match_outranks_a_passing_mention():
    await make("Gardening", FILLER + " One decorator appears here once. " + FILLER)
    await make("Decorators", "A decorator wraps a function; decorators are applied with @.")
    await make("Rivers", "Nothing relevant: water flows downhill.")
    assert await titles("decorators") == ["Decorators", "Gardening"]


async def test_more_occurrences_rank_higher():
    await make("One", "the generator yields values. " + FILLER)
    await make("Three", "generator generator generator yields. " + FILLER)
    assert await titles("generator") == ["Three", "One"]


async def test_stemming_matches_other_word_forms():
    await make("Iteration", "Iterating over sequences calls the iterator protocol.")
    assert await titles("iterates") == ["Iteration"]


async def test_every_term_first_then_any_term():
    await make("Both", "The exception propagates out of the context manager.")
    await make("Only exception", "An exception is raised. " * 5)
    # Both words: only the document containing both matches, though the other mentions one
    # of them five times.
    assert await titles("exception context") == ["Both"]
    # No document has all three words: the search falls back to any of them, still ranked.
    assert await titles("exception context zebra") == ["Both", "Only exception"]


async def test_snippet_highlights_terms_and_carries_the_source():
    await make("Loops", FILLER + " The while loop repeats its body. " + FILLER, "https://x/loops")
    [snippet] = await search_documents("loop repeats")
    assert snippet.title == "Loops"
    assert snippet.source_url == "https://x/loops"
    assert "**loop**" in snippet.text and "**repeats**" in snippet.text
    assert len(snippet.text) < 800, "a snippet, not the whole body"
    assert snippet.rank > 0


async def test_limit_and_no_match():
    for number in range(4):
        await make(f"Lambda {number}", "lambda expressions create anonymous functions")
    assert len(await search_documents("lambda", limit=3)) == 3
    assert await search_documents("xylophone") == []


@pytest.mark.parametrize(
    "query",
    [
        'exit" OR title:*',
        "NEAR(a b) AND (",
        "-'; DROP TABLE research_document; --",
        "ünïcödé ∑ 日本語",
        "   ",
        "the of and",
    ],
)
async def test_hostile_or_odd_queries_never_break_the_search(query):
    await make("Exit", "The exit method runs when the block is left.")
    snippets = await search_documents(query)
    assert isinstance(snippets, list)
    assert await Document.objects.acount() == 1


async def test_index_follows_updates_and_deletes():
    document = await make("Versions", "The first wording mentions apples.")
    assert await titles("apples") == ["Versions"]
    document.body = "The second wording mentions pears."
    await document.asave()
    assert await titles("apples") == []
    assert await titles("pears") == ["Versions"]
    await document.adelete()
    assert await titles("pears") == []


async def test_diacritics_and_case_are_folded():
    await make("Café", "Le café est CHAUD.")
    assert await titles("cafe chaud") == ["Café"]


async def test_an_overlong_search_query_is_refused_clearly(settings):
    """A tool's input is bounded like its time: the model gets a plain refusal to act on."""
    settings.RESEARCH_MAX_QUERY_CHARS = 50
    await make("Exit", "The exit method runs when the block is left.")
    output = await search_knowledge_base.on_invoke_tool(
        _tool_context(SearchContext()), json.dumps({"query": "exit " * 20})
    )
    assert output == (
        "Error: the search query is 100 characters long; the limit is 50: "
        "search for a few key words"
    )
    with pytest.raises(InvalidQuery):
        await search_documents("exit " * 20)


def test_search_terms_drop_stop_words_but_never_everything():
    assert search_terms("How does the with statement work?") == ["statement", "work"]
    assert search_terms("the with") == ["the", "with"]
    assert search_terms("") == []


async def test_tool_returns_numbered_passages_and_records_them():
    await make("Exit", "The exit method runs when the block is left.", "https://kb/exit")
    context = SearchContext(registry=SourceRegistry())
    context.registry.number("Earlier", "https://kb/earlier")
    output = await search_knowledge_base.on_invoke_tool(
        _tool_context(context), '{"query": "exit method"}'
    )
    assert output.startswith("[2] Exit — https://kb/exit\n")
    assert "**exit**" in output
    assert context.found == [{"number": 2, "title": "Exit", "url": "https://kb/exit"}]
    nothing = await search_knowledge_base.on_invoke_tool(
        _tool_context(SearchContext()), '{"query": "xylophone"}'
    )
    assert nothing == "No documents in the knowledge base match 'xylophone'."


async def test_format_snippets_numbers_each_source_once():
    await make("A", "alpha beta", "https://kb/a")
    await make("B", "alpha gamma")
    registry = SourceRegistry()
    text = format_snippets(await search_documents("alpha"), registry)
    again = format_snippets(await search_documents("alpha"), registry)
    assert text == again
    assert [source["number"] for source in registry.sources] == [1, 2]
    assert "[2] B\n" in text + "\n", "a source without a URL is cited by title"


def test_vendor_is_one_with_an_index():
    assert connection.vendor in ("sqlite", "postgresql")


@pytest.mark.parametrize(
    ("backend", "provider", "api", "base_url", "expected"),
    [
        ("auto", "offline", "responses", "", "knowledge_base"),
        ("auto", "openai", "responses", "", "web"),
        ("auto", "openai", "chat_completions", "", "knowledge_base"),
        ("auto", "openai", "responses", "http://127.0.0.1:9/v1", "knowledge_base"),
        ("knowledge_base", "openai", "responses", "", "knowledge_base"),
        ("web", "openai", "responses", "", "web"),
        (" Web ", "openai", "responses", "", "web"),
    ],
)
def test_backend_selection(settings, backend, provider, api, base_url, expected):
    settings.RESEARCH_SEARCH_BACKEND = backend
    settings.MODEL_PROVIDER = provider
    settings.OPENAI_API = api
    settings.OPENAI_BASE_URL = base_url or None
    assert search_backend() == expected


@pytest.mark.parametrize(("backend", "provider"), [("web", "offline")])
def test_impossible_backend_is_a_clear_error(settings, backend, provider):
    """An unknown backend ("bing") is refused at start-up instead: tests/agentsite/
    test_setting_checks.py."""
    settings.RESEARCH_SEARCH_BACKEND = backend
    settings.MODEL_PROVIDER = provider
    with pytest.raises(SearchUnavailable) as caught:
        search_backend()
    assert "RESEARCH_SEARCH_BACKEND" in caught.value.message
    assert caught.value.status == 503


def _tool_context(context: SearchContext):
    from agents.tool_context import ToolContext

    wrapper = RunContextWrapper(context)
    return ToolContext(
        context=wrapper.context,
        usage=wrapper.usage,
        tool_name="search_knowledge_base",
        tool_call_id="call_1",
        tool_arguments="{}",
    )
