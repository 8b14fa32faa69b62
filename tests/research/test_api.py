"""The research HTTP API through Django's async test client: the compatibility endpoint, the
SSE stream read as raw bytes, stored reports per owner, bad input, and an offline end-to-end
run over the built-in corpus."""

from __future__ import annotations

import re
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.management import call_command

from agentsite.web.apikeys import generate_api_key
from research.models import Report
from tests.research.conftest import PLAN, REPORT, ResearchScript, upstream_error
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)

QUERY = "How do context managers work?"


async def stream(client, query: str | None = None, body: dict | None = None, **headers):
    path = "/research/stream" + (f"?query={query}" if query is not None else "")
    response = await client.post(path, body, content_type="application/json", headers=headers)
    raw = b"".join([chunk async for chunk in response.streaming_content])
    return response, raw


async def api_key(name: str) -> str:
    _, raw = await sync_to_async(generate_api_key)(name)
    return raw


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


# --- POST /research (the FastAPI app's endpoint) -------------------------------------------------


async def test_research_returns_the_report(client, use_research_script, knowledge_base):
    use_research_script(ResearchScript())
    response = await client.post(f"/research?query={QUERY}")
    assert response.status_code == 200
    body = response.json()
    assert {"short_summary", "markdown_report", "follow_up_questions"} <= set(body)
    assert body["short_summary"] == REPORT["short_summary"]
    assert body["follow_up_questions"] == REPORT["follow_up_questions"]
    assert body["markdown_report"].startswith(REPORT["markdown_report"])
    report = await Report.objects.aget(pk=body["report_id"])
    assert report.status == "completed" and report.query == QUERY
    assert body["sources"] == report.sources and report.sources


async def test_upstream_failure_is_502_and_the_failed_report_is_kept(
    client, use_research_script, knowledge_base
):
    use_research_script(ResearchScript(writer=upstream_error("model offline")))
    response = await client.post(f"/research?query={QUERY}")
    assert response.status_code == 502
    body = response.json()
    assert body["success"] is False and body["code"] == "provider_unreachable"
    # The provider's own words go to the log, not to the client.
    assert body["error"] == "The connection to the model provider failed"
    report = await Report.objects.aget(pk=body["report_id"])
    assert report.status == "failed" and len(report.searches) == len(PLAN)


# --- POST /research/stream ------------------------------------------------------------------------


async def test_stream_progress_sequence_from_raw_bytes(client, use_research_script, knowledge_base):
    use_research_script(ResearchScript())
    response, raw = await stream(client, body={"query": QUERY})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    report_id = response["X-Report-Id"]
    assert re.search(rf"^id: {report_id}:1$", raw.decode(), re.M)
    events = parse_sse(raw)

    types = [event["type"] for event in events]
    assert types[-2:] == ["report", "stream_complete"]
    assert set(types[:-2]) == {"research_progress"}
    progress = events[:-2]
    assert [event["stage"] for event in progress[:2]] == ["planning", "planned"]
    assert progress[1]["total"] == 5 and len(progress[1]["searches"]) == 5
    assert progress[-1]["stage"] == "writing"
    started = [event for event in progress if event["stage"] == "search_started"]
    finished = [event for event in progress if event["stage"] == "search_finished"]
    assert sorted(event["index"] for event in started) == [1, 2, 3, 4, 5]
    assert [event["completed"] for event in finished] == [1, 2, 3, 4, 5]
    assert {event["total"] for event in started + finished} == {5}
    assert finished[-1]["message"] == "Finished 5/5 searches"
    assert all(event["report_id"] == report_id for event in events)
    # A search finishes only after it started.
    for event in finished:
        begun = next(e for e in started if e["index"] == event["index"])
        assert events.index(begun) < events.index(event)

    report, complete = events[-2], events[-1]
    assert report["short_summary"] == REPORT["short_summary"]
    assert complete["final_output"]["markdown_report"] == report["markdown_report"]
    assert set(complete) >= {"final_output", "current_turn", "usage", "session_id"}
    assert complete["usage"]["requests"] == 7


async def test_stream_takes_the_query_from_the_url_too(client, use_research_script, knowledge_base):
    use_research_script(ResearchScript())
    response, raw = await stream(client, query="with statement")
    assert response.status_code == 200
    assert parse_sse(raw)[-1]["type"] == "stream_complete"


async def test_stream_failure_is_an_error_event_after_the_progress(
    client, use_research_script, knowledge_base
):
    use_research_script(ResearchScript(writer=upstream_error("model offline")))
    _, raw = await stream(client, body={"query": QUERY})
    events = parse_sse(raw)
    error = events[-1]
    assert error["type"] == "error" and error["status"] == 502
    assert error["message"] == "The connection to the model provider failed"
    assert error["code"] == "provider_unreachable"
    assert [event.get("stage") for event in events[-2:-1]] == ["writing"]
    detail = (await client.get(f"/research/reports/{error['report_id']}")).json()
    assert detail["status"] == "failed" and "model provider failed" in detail["error"]
    assert [search["status"] for search in detail["searches"]] == ["completed"] * 5


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("", "non-empty"),
        ("%20%20%20", "non-empty"),
        ("x" * 51, "limit is 50"),
        ("a%00b", "control characters"),
    ],
)
async def test_bad_queries_are_422_on_both_endpoints(client, settings, query, problem):
    settings.RESEARCH_MAX_QUERY_CHARS = 50
    plain = await client.post(f"/research?query={query}")
    streamed = await client.post(f"/research/stream?query={query}")
    for response in (plain, streamed):
        assert response.status_code == 422
        assert response["Content-Type"].startswith("application/json")
        body = response.json()
        assert body["success"] is False and problem in body["error"]
    assert await Report.objects.acount() == 0


async def test_missing_query_and_bad_bodies(client):
    missing = await client.post("/research")
    assert missing.status_code == 422 and missing.json()["success"] is False
    no_query = await client.post("/research/stream", {}, content_type="application/json")
    assert no_query.status_code == 422
    wrong_type = await client.post(
        "/research/stream", {"query": 42}, content_type="application/json"
    )
    assert wrong_type.status_code == 422
    malformed = await client.post("/research/stream", "{", content_type="application/json")
    assert malformed.status_code == 400
    assert malformed.json() == {
        "success": False,
        "error": "Malformed JSON in request body",
        "code": "bad_request",
    }


async def test_a_browser_session_must_declare_json(client, use_research_script, knowledge_base):
    use_research_script(ResearchScript())
    user = await sync_to_async(User.objects.create_user)("ada", password="pw-unused-123")
    await client.aforce_login(user)
    refused = await client.post(f"/research?query={QUERY}")
    assert refused.status_code == 415
    accepted = await client.post(f"/research?query={QUERY}", content_type="application/json")
    assert accepted.status_code == 200


# --- stored reports -------------------------------------------------------------------------------


async def test_reports_are_owner_scoped(client, use_research_script, knowledge_base):
    use_research_script(ResearchScript())
    alice, bob = await api_key("alice"), await api_key("bob")
    created = await client.post(f"/research?query={QUERY}", headers=bearer(alice))
    report_id = created.json()["report_id"]

    mine = (await client.get("/research/reports", headers=bearer(alice))).json()
    assert [row["id"] for row in mine["reports"]] == [report_id]
    assert mine["reports"][0]["status"] == "completed"
    assert mine["reports"][0]["search_count"] == 5
    detail = await client.get(f"/research/reports/{report_id}", headers=bearer(alice))
    assert detail.status_code == 200
    body = detail.json()
    assert body["markdown_report"] == created.json()["markdown_report"]
    assert body["plan"] == [{"reason": reason, "query": query} for reason, query in PLAN]
    assert body["usage"]["requests"] == 7

    theirs = (await client.get("/research/reports", headers=bearer(bob))).json()
    assert theirs["reports"] == [] and theirs["total"] == 0
    for headers in (bearer(bob), {}):
        hidden = await client.get(f"/research/reports/{report_id}", headers=headers)
        assert hidden.status_code == 404
        assert hidden.json() == {"success": False, "error": "Report not found", "code": "not_found"}


async def test_a_report_is_deleted_by_its_owner_only(client, use_research_script, knowledge_base):
    use_research_script(ResearchScript())
    alice, bob = await api_key("alice"), await api_key("bob")
    created = await client.post(f"/research?query={QUERY}", headers=bearer(alice))
    report_id = created.json()["report_id"]
    url = f"/research/reports/{report_id}"
    assert (await client.delete(url, headers=bearer(bob))).status_code == 404
    deleted = await client.delete(url, headers=bearer(alice))
    assert deleted.status_code == 200 and deleted.json()["success"] is True
    assert (await client.get(url, headers=bearer(alice))).status_code == 404
    assert (await client.delete(url, headers=bearer(alice))).status_code == 404


async def test_unknown_and_malformed_report_ids(client):
    assert (await client.get(f"/research/reports/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/research/reports/not-a-uuid")).status_code == 422


async def test_report_list_pages(client):
    for number in range(5):
        await Report.objects.acreate(query=f"q{number}", owner_key="anonymous")
    await Report.objects.acreate(query="someone else's", owner_key="key:999")
    first = (await client.get("/research/reports?page=1&page_size=2")).json()
    last = (await client.get("/research/reports?page=3&page_size=2")).json()
    assert (first["total"], first["has_more"], len(first["reports"])) == (5, True, 2)
    assert (last["has_more"], len(last["reports"])) == (False, 1)
    assert (await client.get("/research/reports?page_size=1000")).status_code == 422


# --- offline, end to end --------------------------------------------------------------------------


async def test_offline_research_over_the_builtin_corpus_cites_its_sources(client):
    await sync_to_async(call_command)("load_corpus", verbosity=0)
    response = await client.post("/research?query=How do Python exceptions work?")
    assert response.status_code == 200
    body = response.json()
    report = await Report.objects.aget(pk=body["report_id"])
    assert report.status == "completed" and report.model == "offline"
    assert report.short_summary.startswith("[offline model]")
    assert len(report.searches) >= 5
    assert all(search["status"] == "completed" for search in report.searches)

    # Built from the retrieved passages: their highlighted words and their numbered sources.
    markdown = body["markdown_report"]
    assert "**exception**" in markdown
    urls = {source["url"] for source in report.sources}
    assert "pydoc:exceptions" in urls
    assert all(url.startswith("pydoc:") for url in urls)
    for source in report.sources:
        assert source["url"] in markdown
    cited = {int(number) for number in re.findall(r"\[(\d+)\]", markdown)}
    assert {source["number"] for source in report.sources} <= cited
    exceptions = next(s for s in report.sources if s["url"] == "pydoc:exceptions")
    assert f"[{exceptions['number']}] Exceptions — pydoc:exceptions" in markdown
    # Each search summary quotes its own passages (the best first), with the same numbering.
    for search in report.searches:
        best = search["sources"][0]
        assert f"[{best['number']}] {best['title']} — {best['url']}" in search["summary"]
    assert body["sources"] == report.sources


async def test_a_lone_surrogate_in_the_query_is_422(client):
    """JSON escapes can carry a lone surrogate (a URL cannot: Django decodes it as U+FFFD);
    the provider's client would raise on it, so it never reaches a run."""
    response = await client.post(
        "/research/stream", {"query": "a\ud800b"}, content_type="application/json"
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_query"
    assert "query contains a lone surrogate (U+D800) at character 1" in body["error"]
    assert await Report.objects.acount() == 0


async def test_a_report_has_one_name_for_its_id_everywhere(
    client, use_research_script, knowledge_base
):
    """``report_id`` in the research answer, the listing and the detail (``id`` kept beside it
    in the listing for clients written against its first version)."""
    use_research_script(ResearchScript())
    created = (await client.post(f"/research?query={QUERY}")).json()
    listed = (await client.get("/research/reports")).json()["reports"][0]
    detail = (await client.get(f"/research/reports/{created['report_id']}")).json()
    assert listed["report_id"] == detail["report_id"] == created["report_id"]
    assert listed["id"] == created["report_id"]
