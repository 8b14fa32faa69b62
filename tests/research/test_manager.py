"""ResearchManager with scripted agents: the pipeline, its concurrency bound, and how it fails
(a search, every search, the planner, the writer, a timeout, a cancel) while keeping progress.

The pipeline runs as the run service runs it for every transport, so the events here are the
ones clients get, the last one included."""

from __future__ import annotations

import asyncio
import time

import pytest
from agents import WebSearchTool
from agents.testing import ModelCall, ModelStep
from openai.types.responses import ResponseOutputMessage, ResponseOutputText
from openai.types.responses.response_output_text import AnnotationURLCitation

from agentsite.runs.service import start_run
from research.manager import CANCELLED, ResearchManager
from research.models import Report
from tests.research.conftest import PLAN, FixedProvider, ResearchScript, upstream_error

pytestmark = pytest.mark.django_db(transaction=True)


def manager_for(script: ResearchScript, query: str = "How do context managers work?"):
    return ResearchManager(query, "owner:test", model_provider=FixedProvider(script.model))


async def collect(manager: ResearchManager) -> list[dict]:
    live = await start_run(manager.request())
    return [event async for _, event in live.follow()]


def stages(events: list[dict]) -> list[str]:
    return [event.get("stage", event["type"]) for event in events]


async def stored(manager: ResearchManager) -> Report:
    return await Report.objects.aget(pk=manager.report_id)


async def test_pipeline_plans_searches_and_writes_from_retrieved_passages(knowledge_base):
    script = ResearchScript()
    manager = manager_for(script)
    events = await collect(manager)

    assert stages(events)[:2] == ["planning", "planned"]
    assert stages(events)[-3:] == ["writing", "report", "stream_complete"]
    assert stages(events).count("search_started") == stages(events).count("search_finished") == 5
    assert sorted(script.calls_of("search")) == sorted(query for _, query in PLAN)

    # Each search agent was handed the ranked passages, numbered, with title and source.
    with_statement = next(text for text in script.search_inputs() if "with statement" in text)
    assert "Reason: The statement itself" in with_statement
    assert "The with statement — https://kb.example/with\n" in with_statement
    assert "**statement**" in with_statement

    report = await stored(manager)
    assert report.status == "completed" and report.error == ""
    assert report.plan == [{"reason": reason, "query": query} for reason, query in PLAN]
    assert [search["status"] for search in report.searches] == ["completed"] * 5
    assert all(search["sources"] for search in report.searches)
    assert report.short_summary == "Context managers wrap a block with setup and teardown."
    assert report.follow_up_questions == ["How does contextlib help?"]
    urls = {source["url"] for source in report.sources}
    assert "https://kb.example/with" in urls and "https://kb.example/arithmetic" not in urls
    assert [source["number"] for source in report.sources] == sorted(
        source["number"] for source in report.sources
    )
    # The writer cited [1] only; the report still lists every source it was given.
    assert "## Sources" in report.markdown_report
    for source in report.sources:
        assert source["url"] in report.markdown_report
    # 1 planner + 5 searches + 1 writer, 15 tokens each.
    assert (report.requests, report.total_tokens) == (7, 105)
    assert set(report.timings) == {"planning_ms", "searching_ms", "writing_ms", "total_ms"}
    assert report.finished_at is not None

    final = events[-1]
    assert final["final_output"]["markdown_report"] == report.markdown_report
    assert final["usage"]["total_tokens"] == 105
    assert final["report_id"] == str(manager.report_id)


async def test_searches_run_concurrently_but_never_beyond_the_bound(settings, knowledge_base):
    settings.RESEARCH_CONCURRENCY = 2
    in_flight, peak = 0, 0

    async def slow_search(term: str, call: ModelCall) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return f"Summary of {term} [1]."

    plan = [*PLAN, ("More", "context manager"), ("Even more", "decorator")]
    script = ResearchScript(plan=plan, search=slow_search)
    manager = manager_for(script)
    events = await collect(manager)

    assert peak == 2
    assert len(script.calls_of("search")) == 7
    finished = [event for event in events if event.get("stage") == "search_finished"]
    assert [event["completed"] for event in finished] == list(range(1, 8))
    assert all(event["total"] == 7 for event in finished)
    assert events[-1]["type"] == "stream_complete"


async def test_one_failing_search_still_yields_a_report(knowledge_base):
    def flaky(term: str, call: ModelCall):
        if term == "exception handling":
            return upstream_error("search provider down")
        return f"Summary of {term} [1]."

    script = ResearchScript(search=flaky)
    manager = manager_for(script)
    events = await collect(manager)

    assert events[-1]["type"] == "stream_complete"
    failed = [e for e in events if e.get("stage") == "search_finished" and e["status"] == "failed"]
    assert len(failed) == 1 and "connection to the model provider failed" in failed[0]["error"]
    report = await stored(manager)
    assert report.status == "completed"
    by_query = {search["query"]: search for search in report.searches}
    assert by_query["exception handling"]["status"] == "failed"
    assert "connection to the model provider failed" in by_query["exception handling"]["error"]
    assert by_query["with statement"]["status"] == "completed"
    writer_input = script.model.last_call.input[-1]["content"]
    assert "Summary of with statement" in writer_input
    assert "exception handling" not in writer_input


async def test_writer_failure_fails_the_report_but_keeps_the_progress(knowledge_base):
    script = ResearchScript(writer=upstream_error("writer unreachable"))
    manager = manager_for(script)
    events = await collect(manager)

    error = events[-1]
    assert error["type"] == "error" and error["status"] == 502
    assert "connection to the model provider failed" in error["message"]
    assert error["report_id"] == str(manager.report_id)
    assert "writing" in stages(events)
    report = await stored(manager)
    assert report.status == "failed"
    assert "connection to the model provider failed" in report.error
    assert len(report.plan) == 5
    assert [search["status"] for search in report.searches] == ["completed"] * 5
    assert report.searches[0]["summary"].startswith("Summary of")
    assert report.markdown_report == ""
    assert report.requests == 6, "the planner's and the searches' usage is kept"
    assert report.finished_at is not None


async def test_planner_failure(knowledge_base):
    script = ResearchScript(plan=upstream_error())
    manager = manager_for(script)
    events = await collect(manager)
    assert stages(events) == ["planning", "error"]
    report = await stored(manager)
    assert (report.status, report.plan, report.searches) == ("failed", [], [])
    assert "connection" in report.error.lower()


async def test_a_plan_outside_5_to_20_searches_is_refused(knowledge_base):
    script = ResearchScript(plan=PLAN[:3])
    manager = manager_for(script)
    events = await collect(manager)
    assert events[-1]["type"] == "error" and events[-1]["status"] == 502
    assert "agent run failed" in events[-1]["message"].lower()
    assert (await stored(manager)).status == "failed"
    assert script.calls_of("search") == []


async def test_every_search_failing_fails_without_writing(knowledge_base):
    script = ResearchScript(search=lambda term, call: upstream_error("down"))
    manager = manager_for(script)
    events = await collect(manager)
    assert events[-1]["type"] == "error" and events[-1]["status"] == 502
    assert events[-1]["message"].startswith("No search succeeded: 5 of 5 failed")
    assert script.calls_of("writer") == []
    report = await stored(manager)
    assert report.status == "failed"
    assert [search["status"] for search in report.searches] == ["failed"] * 5


async def test_nothing_in_the_knowledge_base_is_a_clear_error(caplog):
    script = ResearchScript()
    manager = manager_for(script)
    events = await collect(manager)
    assert events[-1]["type"] == "error" and events[-1]["status"] == 404
    # The person asking is told what they can do; the operator's fix goes to the log.
    assert events[-1]["message"].startswith("Nothing in the knowledge base matches")
    assert "manage.py" not in events[-1]["message"]
    assert "load_corpus" in caplog.text
    assert script.calls_of("search") == [], "no model call without passages to summarise"
    report = await stored(manager)
    assert report.status == "failed"
    assert [search["status"] for search in report.searches] == ["no_results"] * 5


async def test_a_search_that_hangs_times_out_alone(settings, knowledge_base):
    settings.RESEARCH_SEARCH_TIMEOUT = 0.2

    async def hanging(term: str, call: ModelCall) -> str:
        if term == "file close":
            await asyncio.sleep(30)
        return f"Summary of {term} [1]."

    manager = manager_for(ResearchScript(search=hanging))
    began = time.monotonic()
    events = await collect(manager)
    assert time.monotonic() - began < 5
    assert events[-1]["type"] == "stream_complete"
    by_query = {search["query"]: search for search in (await stored(manager)).searches}
    assert by_query["file close"]["status"] == "failed"
    assert "timed out after 0.2 s" in by_query["file close"]["error"]


async def test_cancelling_keeps_partial_progress(settings, knowledge_base):
    settings.RESEARCH_CONCURRENCY = 1
    release = asyncio.Event()

    async def second_blocks(term: str, call: ModelCall) -> str:
        if term != PLAN[0][1]:
            await release.wait()
        return f"Summary of {term} [1]."

    manager = manager_for(ResearchScript(search=second_blocks))
    live = await start_run(manager.request())
    events = []
    async with asyncio.timeout(5):
        async for _, event in live.follow():
            events.append(event)
            if event.get("stage") == "search_finished":
                live.cancel("immediate", "test")

    cancelled = events[-1]
    assert cancelled["type"] == "run_cancelled" and cancelled["message"] == CANCELLED
    assert cancelled["report_id"] == str(manager.report_id)
    report = await stored(manager)
    assert report.status == "failed" and report.error == CANCELLED
    statuses = [search["status"] for search in report.searches]
    assert statuses[0] == "completed" and "completed" not in statuses[1:]
    assert report.searches[0]["summary"] == f"Summary of {PLAN[0][1]} [1]."


async def test_web_backend_uses_hosted_search_and_cites_its_pages(settings):
    settings.MODEL_PROVIDER = "openai"
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_API = "responses"
    settings.OPENAI_BASE_URL = None
    settings.RESEARCH_SEARCH_BACKEND = "auto"

    def web_answer(term: str, call: ModelCall) -> ModelStep:
        assert any(isinstance(tool, WebSearchTool) for tool in call.tools)
        assert call.model_settings.tool_choice == "required"
        url = f"https://web.example/{term.replace(' ', '-')}"
        text = f"On {term}, see the page."
        citation = AnnotationURLCitation(
            type="url_citation", url=url, title=f"Page on {term}", start_index=0, end_index=5
        )
        message = ResponseOutputMessage(
            id="msg_web",
            type="message",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(type="output_text", text=text, annotations=[citation])],
        )
        return ModelStep(output=[message])

    manager = manager_for(ResearchScript(search=web_answer))
    assert manager.backend == "web"
    events = await collect(manager)
    assert events[-1]["type"] == "stream_complete"
    report = await stored(manager)
    assert report.backend == "web"
    assert {source["url"] for source in report.sources} == {
        f"https://web.example/{query.replace(' ', '-')}" for _, query in PLAN
    }
    assert "- [1] [Page on" in report.markdown_report, "web sources are listed as links"


async def test_the_offline_model_paces_its_steps_so_progress_is_visible(settings, knowledge_base):
    """Offline, every agent call (planner, each search, writer) waits
    RESEARCH_OFFLINE_STEP_DELAY first; a lower bound on the duration cannot flake."""
    from agentsite.providers.offline import OfflineProvider

    settings.RESEARCH_OFFLINE_STEP_DELAY = 0.2
    settings.RESEARCH_CONCURRENCY = 5
    manager = ResearchManager(
        "How do context managers work?", "owner:test", model_provider=OfflineProvider()
    )
    began = time.monotonic()
    events = await collect(manager)
    assert events[-1]["type"] == "stream_complete"
    # planner, then the searches side by side, then the writer: three pauses at least.
    assert time.monotonic() - began >= 3 * 0.2
