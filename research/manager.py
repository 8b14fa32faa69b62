"""One research run: plan the searches, perform them concurrently, write the report.

``ResearchManager`` is the pipeline's ``PipelineWork``: its ``steps`` are the run's wire events
(``research_progress``, then ``report``), and the run service executes it like an agent's run —
a ``Run`` ledger row named ``research`` whose id is the report's, the resumable event log, cancel
from any process, the last event (``stream_complete``, ``error`` or ``run_cancelled``, each with
``report_id``) and every transport. The ``Report`` row is written as the run goes, so a run that
fails or is cancelled keeps its plan and the searches it finished, with status ``failed``.

Over the knowledge base the manager retrieves each search's passages itself, with the same
full-text search the agents' tool uses, and hands them to the search agent: whatever the model
(the offline one included), summaries and report are written from passages whose sources the
run recorded, and the report lists them.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from agents import Agent, ModelSettings, RunConfig, RunContextWrapper, RunHooks, Runner
from agents.items import ModelResponse
from agents.models.interface import ModelProvider
from agents.result import RunResult
from agents.usage import Usage
from django.conf import settings
from django.utils import timezone

from agentsite.errors import translate_error
from agentsite.providers.offline import OfflineProvider
from agentsite.providers.selection import get_model_provider
from agentsite.runs import OnDisconnect, PipelineWork, WorkRequest
from agentsite.runs.events import WireEvent, stream_complete, usage_dict
from agentsite.web.schemas import check_json_text
from research import events
from research.agents import (
    ReportData,
    planner_agent,
    planner_input,
    research_model,
    search_agent_for,
    search_input,
    writer_agent,
    writer_input,
)
from research.errors import InvalidQuery, NoSources, ResearchFailed
from research.models import Report, ReportStatus
from research.reports import cited_sources, with_sources_section
from research.search import (
    SearchContext,
    SourceRegistry,
    format_snippets,
    search_backend,
    search_documents,
    web_citations,
)

# The name of research runs in the ledger and in their routes (/research/runs/{id}).
RESEARCH = "research"
CANCELLED = "The research was cancelled before the report was finished"

logger = logging.getLogger(__name__)


def clean_query(value: Any) -> str:
    """The query, stripped; ``InvalidQuery`` (422) for a missing, blank or oversized one."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidQuery("query must be a non-empty string")
    query = value.strip()
    limit = settings.RESEARCH_MAX_QUERY_CHARS
    if len(query) > limit:
        raise InvalidQuery(f"query is {len(query)} characters long; the limit is {limit}")
    if any(ord(char) < 32 and char not in "\t\n\r" for char in query):
        raise InvalidQuery("query must not contain control characters")
    try:
        check_json_text(query, "query")
    except ValueError as exc:
        raise InvalidQuery(str(exc)) from None
    return query


class ResponseUsage(RunHooks[Any]):
    """Adds each model response's usage to the research's as it arrives, then hands the
    response to the run's own hooks (the quotas' token meter, which may stop the research at
    the response that reaches the day's budget). Counting per response, not per finished agent
    call, keeps the tokens of a step cut short by a cancel in the ledger."""

    def __init__(self, usage: Usage, then: RunHooks[Any] | None) -> None:
        self.usage = usage
        self.then = then

    async def on_llm_end(
        self, context: RunContextWrapper[Any], agent: Agent[Any], response: ModelResponse
    ) -> None:
        self.usage.add(response.usage)
        if self.then is not None:
            await self.then.on_llm_end(context, agent, response)


class ResearchManager(PipelineWork):
    """One research run for one owner, executed once by the run service (``request()``)."""

    def __init__(
        self, query: Any, owner: str, *, model_provider: ModelProvider | None = None
    ) -> None:
        super().__init__()
        self.query = clean_query(query)
        self.owner = owner
        # Known before the run starts, so a transport can name the report up front; the run's
        # ledger row has the same id.
        self.report_id = uuid.uuid4()
        self.backend = search_backend()
        self.provider = model_provider or get_model_provider()
        self.registry = SourceRegistry()
        self._usage = Usage()
        self.searches: list[dict[str, Any]] = []
        self.timings: dict[str, int] = {}
        self.agent_runs = 0
        self.report: dict[str, Any] = {}
        # Whether the Report row exists (a failure before it does has nothing to record), and
        # whether it has its final status.
        self.stored = False
        self.finished = False
        self._started = time.monotonic()

    def request(self, on_disconnect: OnDisconnect = "cancel") -> WorkRequest:
        """What the run service starts: this pipeline as a ``research`` run."""
        return WorkRequest(
            agent=RESEARCH,
            work=self,
            owner=self.owner,
            model=research_model("writer"),
            run_id=self.report_id,
            on_disconnect=on_disconnect,
            research=True,
        )

    @property
    def usage(self) -> Usage:
        """The planner's, the searches' and the writer's, added up."""
        return self._usage

    def completed(self) -> WireEvent:
        return stream_complete(self.report, self.agent_runs, self.usage, None)

    async def cancelled(self) -> dict[str, Any]:
        return {"message": CANCELLED}

    def terminal_keys(self) -> dict[str, Any]:
        return {"report_id": str(self.report_id)}

    async def steps(self) -> AsyncIterator[WireEvent]:
        """Planning, the searches, the report; a failure is recorded in the report, then
        raised (the run's ``error`` event)."""
        await Report.objects.acreate(
            id=self.report_id,
            owner_key=self.owner,
            query=self.query,
            backend=self.backend,
            model=research_model("writer"),
        )
        self.stored = True
        try:
            yield events.progress(self.report_id, "planning", "Planning the searches")
            await self._plan()
            yield events.planned(self.report_id, self.searches)
            async for event in self._search_all():
                yield event
            yield events.progress(self.report_id, "writing", "Writing the report")
            self.report = await self._write()
            yield events.report_event(self.report_id, self.report)
        except (asyncio.CancelledError, GeneratorExit):
            # Also when a consumer stops at the last event: then the report is already final.
            if not self.finished:
                await asyncio.shield(self._fail(CANCELLED))
            raise
        except Exception as exc:
            error = translate_error(exc)
            await asyncio.shield(self._fail(error.message))
            if error is exc:
                raise
            raise error from exc

    # --- stages ------------------------------------------------------------------------------

    async def _plan(self) -> None:
        began = time.monotonic()
        result = await self._run_agent(planner_agent, planner_input(self.query), role="planner")
        plan = [item.model_dump() for item in result.final_output.searches]
        self.searches = [
            {
                "index": index,
                "query": item["query"],
                "reason": item["reason"],
                "status": "pending",
                "summary": "",
                "sources": [],
                "error": "",
                "duration_ms": None,
            }
            for index, item in enumerate(plan, start=1)
        ]
        self.timings["planning_ms"] = _ms_since(began)
        await self._save(plan=plan, searches=self._snapshot(), timings=dict(self.timings))

    async def _search_all(self) -> AsyncIterator[WireEvent]:
        """Every search, at most RESEARCH_CONCURRENCY at once; their events as they happen."""
        began = time.monotonic()
        total = len(self.searches)
        semaphore = asyncio.Semaphore(max(1, settings.RESEARCH_CONCURRENCY))
        queue: asyncio.Queue[WireEvent | None] = asyncio.Queue()
        finished = 0

        async def search_one(search: dict[str, Any]) -> None:
            nonlocal finished
            try:
                async with semaphore:
                    search["status"] = "running"
                    queue.put_nowait(events.search_started(self.report_id, search, total))
                    await self._search(search)
                    finished += 1
                    done = events.search_finished(self.report_id, search, finished, total)
                    await self._save(searches=self._snapshot())
                    queue.put_nowait(done)
            finally:
                queue.put_nowait(None)

        tasks = [asyncio.create_task(search_one(search)) for search in self.searches]
        try:
            running = len(tasks)
            while running:
                event = await queue.get()
                if event is None:
                    running -= 1
                else:
                    yield event
            for task in tasks:
                task.result()  # a search that could not even be recorded fails the run
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self.timings["searching_ms"] = _ms_since(began)
        self._check_usable()

    async def _search(self, search: dict[str, Any]) -> None:
        """One search; its failure is recorded in ``search``, never raised."""
        began = time.monotonic()
        context = SearchContext(registry=self.registry)
        try:
            async with asyncio.timeout(settings.RESEARCH_SEARCH_TIMEOUT):
                retrieved: list[dict[str, Any]] = []
                passages = ""
                if self.backend == "knowledge_base":
                    snippets = await search_documents(search["query"])
                    if not snippets:
                        search["status"] = "no_results"
                        return
                    passages = format_snippets(snippets, self.registry)
                    retrieved = [self.registry.entry(s.title, s.source_url) for s in snippets]
                result = await self._run_agent(
                    search_agent_for(self.backend),
                    search_input(search["query"], search["reason"], passages),
                    role="search",
                    context=context,
                )
                summary = str(result.final_output or "").strip()
                if not summary:
                    raise ResearchFailed("The search agent returned an empty summary")
                cited = retrieved + context.found + web_citations(result, self.registry)
                search.update(status="completed", summary=summary, sources=_unique(cited))
        except TimeoutError:
            search.update(
                status="failed",
                error=f"The search timed out after {settings.RESEARCH_SEARCH_TIMEOUT:g} s",
            )
        except Exception as exc:
            search.update(status="failed", error=translate_error(exc).message)
        finally:
            search["duration_ms"] = _ms_since(began)

    def _check_usable(self) -> None:
        if any(search["status"] == "completed" for search in self.searches):
            return
        failed = [search for search in self.searches if search["status"] == "failed"]
        if not failed:
            logger.warning("%s (report %s)", NoSources.operator_hint, self.report_id)
            raise NoSources()
        raise ResearchFailed(
            f"No search succeeded: {len(failed)} of {len(self.searches)} failed "
            f"(first error: {failed[0]['error']})"
        )

    async def _write(self) -> dict[str, Any]:
        began = time.monotonic()
        sources = cited_sources(self.searches)
        result = await self._run_agent(
            writer_agent, writer_input(self.query, self.searches, sources), role="writer"
        )
        data: ReportData = result.final_output
        report = {
            "short_summary": data.short_summary,
            "markdown_report": with_sources_section(data.markdown_report, sources),
            "follow_up_questions": list(data.follow_up_questions),
            "sources": sources,
        }
        self.timings["writing_ms"] = _ms_since(began)
        self.timings["total_ms"] = _ms_since(self._started)
        await self._save(
            status=ReportStatus.COMPLETED,
            searches=self._snapshot(),
            timings=dict(self.timings),
            finished_at=timezone.now(),
            **report,
            **usage_dict(self.usage),
        )
        self.finished = True
        return report

    # --- helpers -----------------------------------------------------------------------------

    async def _run_agent(
        self, agent: Agent[Any], input: str, *, role: str, context: Any = None
    ) -> RunResult:
        if isinstance(self.provider, OfflineProvider):
            # The offline model answers at once: a whole run would flash by in a fraction of a
            # second. Pausing at each step lets a person see the progress a real model shows.
            await asyncio.sleep(settings.RESEARCH_OFFLINE_STEP_DELAY)
        result = await Runner.run(
            agent,
            input,
            context=context,
            max_turns=settings.MAX_TURNS,
            hooks=ResponseUsage(self.usage, self.hooks),
            run_config=RunConfig(
                model=research_model(role),
                model_provider=self.provider,
                model_settings=ModelSettings(include_usage=True),
                workflow_name="agentsite:research",
                group_id=str(self.report_id),
            ),
        )
        self.agent_runs += 1
        return result

    async def _save(self, **fields: Any) -> None:
        await Report.objects.filter(pk=self.report_id).aupdate(**fields)

    async def _fail(self, message: str) -> None:
        if not self.stored or self.finished:
            return
        self.finished = True
        self.timings["total_ms"] = _ms_since(self._started)
        await self._save(
            status=ReportStatus.FAILED,
            error=message,
            searches=self._snapshot(),
            timings=dict(self.timings),
            finished_at=timezone.now(),
            **usage_dict(self.usage),
        )

    def _snapshot(self) -> list[dict[str, Any]]:
        # A copy taken now, in the event loop: the ORM serialises it in another thread while
        # the searches go on changing the originals.
        return copy.deepcopy(self.searches)


def _unique(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({source["number"]: source for source in sources}.values())


def _ms_since(began: float) -> int:
    return int((time.monotonic() - began) * 1000)
