"""Where searches look: the local knowledge base (full-text search) or OpenAI's web search.

The knowledge base is searched with the database's own full-text engine (migration 0002):
FTS5 with BM25 on SQLite, ``websearch_to_tsquery`` with ``ts_rank`` over a GIN-indexed
``tsvector`` on PostgreSQL. Both first ask for every term (or, on PostgreSQL, what the query's
web-search syntax says: "phrases", ``or``, ``-word``) and, when that finds nothing, for any term,
still ranked, so a long natural-language question still finds the passages that share its words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from agents import RunContextWrapper, function_tool
from agents.result import RunResult
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.checks import CheckMessage
from django.db import connection

from agentsite.checks import enumerated_setting_errors, lowered
from agentsite.providers.selection import provider_name
from research.errors import InvalidQuery, SearchUnavailable


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


Backend = Literal["knowledge_base", "web"]
BACKENDS = ("auto", "knowledge_base", "web")
MAX_TERMS = 32
# Words that would make an all-terms query on SQLite miss (PostgreSQL's english configuration
# drops its own stop words).
_STOP_WORDS = _words(
    "a an and are as at be by can could do does for from has have how i in into is it its of "
    "on or that the their this to was what when where which who why will with would you"
)
_TERM = re.compile(r"\w+")
HIGHLIGHT = "**"


@dataclass(frozen=True)
class Snippet:
    """One ranked passage: where it comes from and the text around the matched words."""

    document_id: int
    title: str
    source_url: str
    text: str
    rank: float


@dataclass
class SourceRegistry:
    """Numbers sources in the order a research run first meets them, so ``[n]`` means the same
    source in every search summary and in the report."""

    numbers: dict[str, int] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)

    def number(self, title: str, url: str) -> int:
        key = url or title
        if key not in self.numbers:
            self.numbers[key] = len(self.sources) + 1
            self.sources.append({"number": self.numbers[key], "title": title, "url": url})
        return self.numbers[key]

    def entry(self, title: str, url: str) -> dict[str, Any]:
        return self.sources[self.number(title, url) - 1]


@dataclass
class SearchContext:
    """The run context of a search agent: the run's source numbering, and what the knowledge-
    base tool found during this search (so the report cites it too)."""

    registry: SourceRegistry = field(default_factory=SourceRegistry)
    found: list[dict[str, Any]] = field(default_factory=list)


def search_backend() -> Backend:
    """The backend RESEARCH_SEARCH_BACKEND selects for the current provider.

    OpenAI's hosted web search exists only on OpenAI's own Responses API, so ``auto`` picks it
    only there; compatible servers (OPENAI_BASE_URL) and the offline model use the knowledge
    base.
    """
    choice: str = settings.RESEARCH_SEARCH_BACKEND.strip().lower()
    web_possible = (
        provider_name() == "openai"
        and settings.OPENAI_API.strip().lower() == "responses"
        and not settings.OPENAI_BASE_URL
    )
    if choice == "web" and not web_possible:
        raise SearchUnavailable(
            "RESEARCH_SEARCH_BACKEND=web needs OpenAI's Responses API (MODEL_PROVIDER=openai, "
            "OPENAI_API=responses, no OPENAI_BASE_URL); use knowledge_base or auto"
        )
    if choice == "auto":
        return "web" if web_possible else "knowledge_base"
    return "web" if choice == "web" else "knowledge_base"


def check_search_backend_setting(**kwargs: object) -> list[CheckMessage]:
    """RESEARCH_SEARCH_BACKEND is one of BACKENDS (a system check, run at start-up)."""
    return enumerated_setting_errors(
        {"RESEARCH_SEARCH_BACKEND": (BACKENDS, lowered)}, "research.E001"
    )


def search_terms(query: str) -> list[str]:
    """The words of a query, lower-cased, stop words dropped (all of them if that is all)."""
    words = [word.lower() for word in _TERM.findall(query)]
    kept = [word for word in words if word not in _STOP_WORDS] or words
    return list(dict.fromkeys(kept))[:MAX_TERMS]


async def search_documents(query: str, limit: int | None = None) -> list[Snippet]:
    """The best-matching passages of the knowledge base for ``query``, best first.

    Bounded like every tool: the query's length (RESEARCH_MAX_QUERY_CHARS; PostgreSQL parses
    all of it) and terms (MAX_TERMS), the passages returned (RESEARCH_SNIPPETS_PER_SEARCH) and
    each passage's length; the query runs on a database thread, never on the event loop, and
    the manager bounds each search's time (RESEARCH_SEARCH_TIMEOUT).
    """
    limit = limit or settings.RESEARCH_SNIPPETS_PER_SEARCH
    check_search_query(query)
    if not search_terms(query):
        return []
    return await sync_to_async(rank_documents)(query, limit)


def check_search_query(query: str) -> None:
    """``InvalidQuery`` for a search query over RESEARCH_MAX_QUERY_CHARS characters."""
    if len(query) > settings.RESEARCH_MAX_QUERY_CHARS:
        raise InvalidQuery(
            f"the search query is {len(query)} characters long; the limit is "
            f"{settings.RESEARCH_MAX_QUERY_CHARS}: search for a few key words"
        )


def rank_documents(query: str, limit: int) -> list[Snippet]:
    """``search_documents`` for synchronous callers (the admin)."""
    if not search_terms(query):
        return []
    vendor = connection.vendor
    if vendor == "sqlite":
        run = _search_sqlite
    elif vendor == "postgresql":
        run = _search_postgresql
    else:
        raise SearchUnavailable(f"Knowledge-base search needs SQLite or PostgreSQL, not {vendor}")
    terms = search_terms(query)
    return run(query, terms, limit, every=True) or run(query, terms, limit, every=False)


def _search_sqlite(query: str, terms: list[str], limit: int, *, every: bool) -> list[Snippet]:
    # Each term quoted, so FTS5 reads it as a word, never as an operator or a column name.
    match = (" " if every else " OR ").join(f'"{term}"' for term in terms)
    sql = f"""
        SELECT d.id, d.title, d.source_url,
               snippet(research_document_fts, 1, '{HIGHLIGHT}', '{HIGHLIGHT}', '…', 48),
               bm25(research_document_fts, 8.0, 1.0) AS score
        FROM research_document_fts
        JOIN research_document d ON d.id = research_document_fts.rowid
        WHERE research_document_fts MATCH %s
        ORDER BY score, d.id
        LIMIT %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [match, limit])
        rows = cursor.fetchall()
    # BM25 is lower-is-better and negative; a rank is higher-is-better.
    return [Snippet(row[0], row[1], row[2], _tidy(row[3]), -row[4]) for row in rows]


def _search_postgresql(query: str, terms: list[str], limit: int, *, every: bool) -> list[Snippet]:
    text = query if every else " or ".join(terms)
    options = (
        f"StartSel={HIGHLIGHT}, StopSel={HIGHLIGHT}, MaxWords=45, MinWords=20, "
        'MaxFragments=2, FragmentDelimiter=" … "'
    )
    # The headline is computed for the few rows kept, not for every match.
    sql = """
        SELECT hit.id, hit.title, hit.source_url,
               ts_headline('english', hit.body, hit.q, %s), hit.score
        FROM (
            SELECT d.id, d.title, d.source_url, d.body, q,
                   ts_rank(d.search_vector, q, 1) AS score
            FROM research_document d, websearch_to_tsquery('english', %s) q
            WHERE d.search_vector @@ q
            ORDER BY score DESC, d.id
            LIMIT %s
        ) hit
        ORDER BY hit.score DESC, hit.id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [options, text, limit])
        rows = cursor.fetchall()
    return [Snippet(row[0], row[1], row[2], _tidy(row[3]), float(row[4])) for row in rows]


def _tidy(text: str) -> str:
    return " ".join(text.split())


def web_citations(result: RunResult, registry: SourceRegistry) -> list[dict[str, Any]]:
    """The pages a web search answer cites (its ``url_citation`` annotations), numbered."""
    found = []
    for item in result.new_items:
        if item.type != "message_output_item":
            continue
        for part in getattr(item.raw_item, "content", None) or []:
            for annotation in getattr(part, "annotations", None) or []:
                if getattr(annotation, "type", None) == "url_citation":
                    found.append(registry.entry(annotation.title or annotation.url, annotation.url))
    return found


def format_snippets(snippets: list[Snippet], registry: SourceRegistry) -> str:
    """Passages as an agent reads them: ``[n] title — source`` then the text, numbered by the
    run's registry."""
    blocks = []
    for snippet in snippets:
        number = registry.number(snippet.title, snippet.source_url)
        source = f" — {snippet.source_url}" if snippet.source_url else ""
        blocks.append(f"[{number}] {snippet.title}{source}\n{snippet.text}")
    return "\n\n".join(blocks)


@function_tool
async def search_knowledge_base(ctx: RunContextWrapper[Any], query: str) -> str:
    """Search the local knowledge base with full-text search.

    Returns the best-matching passages, best first, each headed by its source number, title and
    source URL; cite them by number, like [2].

    Args:
        query: Words to look for, e.g. "context manager exceptions"; "quoted phrases" and
            -excluded words work on PostgreSQL.
    """
    context = ctx.context if isinstance(ctx.context, SearchContext) else SearchContext()
    try:
        snippets = await search_documents(query)
    except InvalidQuery as exc:
        return f"Error: {exc.message}"
    if not snippets:
        return f"No documents in the knowledge base match {query!r}."
    for snippet in snippets:
        entry = context.registry.entry(snippet.title, snippet.source_url)
        if entry not in context.found:
            context.found.append(entry)
    return format_snippets(snippets, context.registry)
