"""The research API: run a research (JSON or SSE), follow, resume or cancel its run, and read the
caller's stored reports.

Views only translate; the work is in ``research.manager`` (the pipeline) and
``research.reports``. Runs go through the shared run service, so the run routes
(``/research/runs/{run_id}``, ``…/stream``, ``…/cancel``) are the agents' own
(``agentsite.web.routes.mount_run_routes``); a research run's id is its report's.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from ninja import Query, Router, Status

from agentsite.errors import AgentSiteError, BadRequest
from agentsite.runs import run_to_completion, start_run
from agentsite.web.routes import SSE_EVENT_SCHEMA, add_headers, mount_run_routes, stream_live
from agentsite.web.schemas import ErrorOut, MessageOut, error_responses
from agentsite.web.security import request_owner
from research.errors import InvalidQuery
from research.manager import RESEARCH, ResearchManager
from research.reports import (
    delete_report,
    get_report,
    list_reports,
    report_detail,
    report_summary,
)
from research.schemas import (
    ReportDetailOut,
    ReportListOut,
    ReportOut,
    ReportSummaryOut,
    ResearchBody,
    ResearchErrorOut,
)

ERRORS: dict[int, Any] = error_responses(400, 401, 404, 413, 415, 422, 500, 503)
RUN_ERRORS: dict[int, Any] = {
    **ERRORS,
    **{code: ResearchErrorOut for code in (404, 409, 429, 500, 502)},
}
SSE_OPENAPI = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": ResearchBody.model_json_schema()}},
    },
    "responses": {
        200: {
            "description": "Server-Sent Events, `id: <run_id>:<seq>` and one `data: <json>` line "
            "each: `research_progress` (stage planning, planned, search_started, "
            "search_finished, writing), then `report` and `stream_complete`, or a last `error` "
            "(or `run_cancelled`). The run id is the report id, in `X-Run-Id` and `X-Report-Id`.",
            "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
        }
    },
}
OnDisconnectQuery = Query(
    None,
    description="When the client goes away: cancel the run (default SSE_ON_DISCONNECT) or let "
    "it finish so it can be resumed at /research/runs/{run_id}/stream",
)

research_router = Router(tags=[RESEARCH])


@research_router.post(
    "",
    response={200: ReportOut, **RUN_ERRORS},
    summary="Research a query and return the report (the FastAPI app's endpoint)",
)
async def research(
    request: HttpRequest,
    response: HttpResponse,
    query: str = Query(..., description="What to research"),
) -> Status[Any]:
    owner = request_owner(request)
    manager = ResearchManager(query, owner.key)
    headers: dict[str, str] = {}  # the quota headers
    try:
        done = await run_to_completion(manager.request(), headers)
    except AgentSiteError as error:
        add_headers(response, {**headers, **error.response_headers()})
        report_id = str(manager.report_id) if manager.stored else None
        return Status(
            error.status,
            ResearchErrorOut(error=error.message, code=error.code, report_id=report_id),
        )
    add_headers(response, headers)
    return Status(200, ReportOut(report_id=str(manager.report_id), **done["final_output"]))


@research_router.post(
    "/stream",
    response={**ERRORS, 429: ErrorOut},
    openapi_extra=SSE_OPENAPI,
    summary="Research a query, streaming progress and the report as SSE",
)
async def stream(
    request: HttpRequest,
    query: str | None = Query(None, description='What to research, or send {"query": …}'),
    on_disconnect: Literal["cancel", "continue"] | None = OnDisconnectQuery,
) -> HttpResponseBase:
    owner = request_owner(request)
    if query is None:
        query, on_disconnect = body_fields(request, on_disconnect)
    manager = ResearchManager(query, owner.key)
    policy = on_disconnect or settings.SSE_ON_DISCONNECT
    response = stream_live(await start_run(manager.request(policy)), policy)
    response["X-Report-Id"] = str(manager.report_id)
    return response


def body_fields(request: HttpRequest, on_disconnect: str | None) -> tuple[Any, Any]:
    """``query`` and ``on_disconnect`` of a JSON body (the stream takes the query there or in
    the URL, so ninja cannot require a body); the query's type and value are checked with the
    URL's, by ``ResearchManager``."""
    if not request.body:
        raise InvalidQuery('Send the query as ?query=… or as a JSON body {"query": "…"}')
    try:
        data = json.loads(request.body)
    except ValueError:
        raise BadRequest("Malformed JSON in request body") from None
    if not isinstance(data, dict) or "query" not in data:
        raise InvalidQuery('The JSON body must be an object with a "query"')
    policy = data.get("on_disconnect", on_disconnect)
    if policy not in (None, "cancel", "continue"):
        raise InvalidQuery('on_disconnect must be "cancel" or "continue"')
    return data["query"], policy


mount_run_routes(research_router, RESEARCH)


@research_router.get(
    "/reports", response={200: ReportListOut, **ERRORS}, summary="The caller's reports"
)
async def reports(
    request: HttpRequest,
    page: int = Query(1, ge=1, le=100_000),
    page_size: int = Query(20, ge=1, le=100),
) -> ReportListOut:
    owner = request_owner(request)
    rows, total = await list_reports(owner.key, page, page_size)
    return ReportListOut(
        reports=[ReportSummaryOut(**report_summary(row)) for row in rows],
        page=page,
        page_size=page_size,
        total=total,
        has_more=page * page_size < total,
    )


@research_router.get(
    "/reports/{report_id}", response={200: ReportDetailOut, **ERRORS}, summary="One report"
)
async def report(request: HttpRequest, report_id: uuid.UUID) -> ReportDetailOut:
    owner = request_owner(request)
    return ReportDetailOut(**report_detail(await get_report(report_id, owner.key)))


@research_router.delete(
    "/reports/{report_id}", response={200: MessageOut, **ERRORS}, summary="Delete a report"
)
async def remove_report(request: HttpRequest, report_id: uuid.UUID) -> MessageOut:
    owner = request_owner(request)
    await delete_report(report_id, owner.key)
    return MessageOut(message=f"Report {report_id} deleted", success=True)
