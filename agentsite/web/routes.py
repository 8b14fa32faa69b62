"""The per-agent HTTP routes (DESIGN.md §5), written once and mounted for every registered agent
by ``agentsite.web.api``.

Views only translate: request bodies in, ``runs``/``sessions`` services called, JSON or SSE
out. Domain errors are turned into responses by the handlers in ``agentsite.web.api``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from pathlib import PurePath
from typing import Any, Final, Literal

from agents import Agent
from agents.handoffs import Handoff
from agents.tool import FunctionTool
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from ninja import Header, Query, Router, Status

from agentsite.conversations.branches import read_forks
from agentsite.conversations.leases import is_running
from agentsite.conversations.listing import (
    conversation_runs,
    list_conversations,
    rename_conversation,
)
from agentsite.conversations.retention import delete_conversation
from agentsite.conversations.session import DjangoSession
from agentsite.errors import (
    DATABASE_UNAVAILABLE,
    AgentSiteError,
    ConversationBusy,
    NotFound,
    translate_error,
)
from agentsite.governance.feedback import feedback_on_items
from agentsite.models import Run, ToolApproval
from agentsite.providers.selection import is_offline, model_name_for, provider_name
from agentsite.registry import AgentSpec
from agentsite.runs.approvals import ApprovalDecision, decide, expire_overdue, pending_approvals
from agentsite.runs.events import instructions_text
from agentsite.runs.hub import LiveRun
from agentsite.runs.service import (
    CANCEL_WAIT_SECONDS,
    cancel_run,
    follow_run,
    get_resumable_run,
    get_run,
    has_ended_before,
    run_to_completion,
    start_run,
)
from agentsite.web import branch_routes, feedback_routes
from agentsite.web.owners import Owner
from agentsite.web.protocols import ag_ui_http, ai_sdk_http
from agentsite.web.schemas import (
    SESSION_ID_PATTERN,
    ApprovalOut,
    ApprovalsBody,
    ErrorOut,
    FeedbackOut,
    ForkOut,
    InfoOut,
    MessageOut,
    PageQuery,
    PageSizeQuery,
    PausedRunOut,
    RenameBody,
    RewindOut,
    RunBody,
    RunOut,
    RunStatusOut,
    SearchQuery,
    SessionIdPath,
    SessionListOut,
    SessionOut,
    UsageOut,
    error_responses,
)
from agentsite.web.security import request_owner
from agentsite.web.sse import parse_last_event_id, sse_openapi, sse_response

ERRORS = error_responses(400, 401, 404, 409, 413, 415, 422, 500, 502, 503)
SSE_OPENAPI = sse_openapi(
    "Server-Sent Events: `id: <run_id>:<seq>` and one `data: <json>` line per event; the run "
    "id is also in the `X-Run-Id` header",
    "The event as JSON; see Stream events",
)
SSE_EVENT_SCHEMA: dict[str, Any] = SSE_OPENAPI["responses"][200]["content"]["text/event-stream"][
    "schema"
]
# The client protocols beside the native one (DESIGN.md §8), each mounted on every agent.
PROTOCOL_ROUTES: tuple[Callable[[Router, AgentSpec], None], ...] = (
    ai_sdk_http.add_routes,
    ag_ui_http.add_routes,
)


def agent_router(spec: AgentSpec) -> Router:
    """Routes for one agent: run, stream, runs/{id}, sessions, session/{id} and info."""
    router = Router(tags=[spec.slug])

    @router.post(
        "/run",
        response={
            **ERRORS,
            200: PausedRunOut | RunOut,
            409: RunOut,
            429: RunOut,
            500: RunOut,
            502: RunOut,
            503: RunOut,
        },
        summary=f"Run {spec.slug} and return its final output",
        operation_id=f"{spec.slug}_run",
    )
    async def run(
        request: HttpRequest, response: HttpResponse, body: RunBody
    ) -> Status[RunOut | PausedRunOut]:
        owner = request_owner(request)
        session_id = body.session_id if settings.ENABLE_SESSIONS else None
        # The quota headers (X-RateLimit-*, and Retry-After with a 429) go on the answer.
        headers: dict[str, str] = {}
        try:
            done = await run_to_completion(body.run_request(spec, owner.key, "cancel"), headers)
        except (AgentSiteError, *DATABASE_UNAVAILABLE) as exc:
            # The database may go away under the run: still /run's usual body, with a 503.
            error = translate_error(exc)
            add_headers(response, {**headers, **error.response_headers()})
            failed = RunOut(
                success=False, error=error.message, code=error.code, session_id=session_id
            )
            return Status(error.status, failed)
        if done.get("type") == AWAITING_APPROVAL:
            paused = PausedRunOut(
                success=True,
                session_id=session_id,
                run_id=done["run_id"],
                status=AWAITING_APPROVAL,
                approvals=[approval_from_event(event) for event in done["approvals"]],
            )
            add_headers(response, headers)
            return Status(200, paused)
        add_headers(response, headers)
        outcome = RunOut(
            final_output=done["final_output"],
            success=True,
            usage=done["usage"],
            response_id=done.get("response_id"),
            session_id=session_id,
        )
        return Status(200, outcome)

    @router.post(
        "/stream",
        response={409: ErrorOut, 429: ErrorOut, **ERRORS},
        openapi_extra=SSE_OPENAPI,
        summary=f"Run {spec.slug}, streaming its events as SSE",
        operation_id=f"{spec.slug}_stream",
    )
    async def stream(request: HttpRequest, body: RunBody) -> HttpResponseBase:
        owner = request_owner(request)
        asked = body.run_request(spec, owner.key, settings.SSE_ON_DISCONNECT)
        return stream_live(await start_run(asked), asked.on_disconnect)

    mount_run_routes(router, spec.slug)

    @router.post(
        "/runs/{run_id}/approvals",
        response={200: RunStatusOut, **ERRORS},
        openapi_extra={
            "responses": {
                200: {
                    "description": "The run's status; with `Accept: text/event-stream`, the "
                    "resumed run's events (SSE) when the decisions resumed it",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/RunStatusOut"}
                        },
                        "text/event-stream": {"schema": SSE_EVENT_SCHEMA},
                    },
                }
            }
        },
        summary="Approve or reject the tool calls a run waits on; it resumes once all are decided",
        operation_id=f"{spec.slug}_approvals",
    )
    async def approvals(
        request: HttpRequest, run_id: uuid.UUID, body: ApprovalsBody
    ) -> HttpResponseBase | RunStatusOut:
        owner = request_owner(request)
        decisions = [
            ApprovalDecision(item.id, item.approve, item.reason, item.always)
            for item in body.decisions
        ]
        run, live = await decide(run_id, owner.key, spec.slug, decisions, by=owner.key)
        if live is not None and "text/event-stream" in request.headers.get("Accept", ""):
            return sse_response(follow_run(run_id, owner.key, spec.slug, live.offset), run_id)
        return await run_status_out(run)

    @router.get(
        "/sessions",
        response={200: SessionListOut, **ERRORS},
        summary="The caller's conversations",
        operation_id=f"{spec.slug}_sessions",
    )
    async def sessions(
        request: HttpRequest,
        page: int = PageQuery,
        page_size: int = PageSizeQuery,
        q: str = SearchQuery,
    ) -> SessionListOut:
        owner = request_owner(request)
        rows, total = await list_conversations(owner.key, [spec.slug], page, page_size, q)
        return SessionListOut.page_of(rows, total, page, page_size)

    @router.get(
        "/session/{session_id}",
        response={200: SessionOut, **ERRORS},
        summary="The stored items of a conversation, oldest first",
        operation_id=f"{spec.slug}_get_session",
    )
    async def get_session(
        request: HttpRequest,
        session_id: str = SessionIdPath,
        limit: int | None = Query(
            None,
            ge=1,
            le=100_000,
            description="Only the latest N items (at most SESSION_PAGE_MAX_ITEMS, the default)",
        ),
        before: int | None = Query(
            None, ge=0, description="Items before this position: a page's next_before"
        ),
    ) -> SessionOut:
        session = _session(request_owner(request), spec, session_id)
        page_size = min(limit or settings.SESSION_PAGE_MAX_ITEMS, settings.SESSION_PAGE_MAX_ITEMS)
        page = await session.read_page(page_size, before)
        return SessionOut(
            session_id=session_id,
            messages=page.items,
            message_count=len(page.items),
            success=True,
            total=page.total,
            has_more=page.next_before is not None,
            next_before=page.next_before,
            item_times=list(page.created_at),
            runs=await conversation_runs(session.owner, spec.slug, session_id),
            item_positions=list(page.positions),
            branch=page.branch,
            branch_count=page.branch_count,
            forks=[
                ForkOut(
                    position=fork.position,
                    turn=fork.turn,
                    branches=list(fork.branches),
                    index=fork.index,
                )
                for fork in await read_forks(page)
            ],
            feedback=[
                FeedbackOut(**rating)
                for rating in await feedback_on_items(
                    session.owner, spec.slug, session_id, page.positions
                )
            ],
        )

    @router.delete(
        "/session/{session_id}",
        response={200: MessageOut, **ERRORS},
        summary="Delete a conversation with all its items and its runs' events",
        operation_id=f"{spec.slug}_clear_session",
    )
    async def clear_session(request: HttpRequest, session_id: str = SessionIdPath) -> MessageOut:
        session = _session(request_owner(request), spec, session_id)
        await delete_conversation(session.owner, spec.slug, session_id)
        return MessageOut(message=f"Session {session_id} cleared successfully", success=True)

    @router.patch(
        "/session/{session_id}",
        response={200: MessageOut, **ERRORS},
        summary="Rename a conversation",
        operation_id=f"{spec.slug}_rename_session",
    )
    async def rename_session(
        request: HttpRequest, body: RenameBody, session_id: str = SessionIdPath
    ) -> MessageOut:
        session = _session(request_owner(request), spec, session_id)
        if not await rename_conversation(session.owner, spec.slug, session_id, body.title):
            raise NotFound("No such session")
        return MessageOut(message=f"Session {session_id} renamed", success=True)

    @router.post(
        "/session/{session_id}/rewind",
        response={200: RewindOut, **ERRORS},
        summary="Remove the last user turn and its answer (to regenerate it)",
        operation_id=f"{spec.slug}_rewind",
    )
    async def rewind(request: HttpRequest, session_id: str = SessionIdPath) -> RewindOut:
        session = await _idle_session(request_owner(request), spec, session_id)
        removed = await session.rewind_last_turn()
        if removed is None:
            raise NotFound("This session has no user turn to rewind")
        return RewindOut(input=removed.get("content"), success=True)

    branch_routes.add_routes(router, spec)
    feedback_routes.add_routes(router, spec)

    @router.get(
        "/info",
        response={200: InfoOut, **ERRORS},
        summary=f"Describe the {spec.slug} agent",
        operation_id=f"{spec.slug}_info",
    )
    async def info(request: HttpRequest) -> InfoOut:
        # Authenticated like every other agent route (the API's default auth), so behind
        # REQUIRE_API_KEY too: the instructions are the operator's prompt, not public metadata.
        return InfoOut(**agent_info(spec))

    for add_routes in PROTOCOL_ROUTES:
        add_routes(router, spec)
    return router


def stream_live(live: LiveRun, on_disconnect: str) -> HttpResponseBase:
    """A run this request started, as SSE; with ``on_disconnect="cancel"`` a client that leaves
    stops the run."""

    async def stop_run() -> None:
        """The client left: stop the run and wait until it has let go of the session, so
        the client's next turn is not refused."""
        live.cancel("immediate", "disconnect")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(live.done.wait(), CANCEL_WAIT_SECONDS)

    on_close = stop_run if on_disconnect == "cancel" else None
    return add_headers(sse_response(live.follow(), live.run_id, on_close=on_close), live.headers)


def add_headers(response: HttpResponseBase, headers: dict[str, str]) -> HttpResponseBase:
    """Set ``headers`` (a run's quota headers) on ``response``."""
    for name, value in headers.items():
        response[name] = value
    return response


def mount_run_routes(router: Router, slug: str) -> None:
    """A run's status, resume and cancel under ``/{slug}/runs/{run_id}``: the same for every
    agent and for pipelines (research) alike."""

    @router.get(
        "/runs/{run_id}/stream",
        response={204: None, **ERRORS},
        openapi_extra=SSE_OPENAPI,
        summary="Resume a run's event stream after Last-Event-ID (or ?after=), then follow it; "
        "204 when the run has ended and the client has every event",
        operation_id=f"{slug}_resume",
    )
    async def resume(
        request: HttpRequest,
        run_id: uuid.UUID,
        after: int | None = Query(
            None, ge=0, description="Replay events after this seq (Last-Event-ID wins)"
        ),
        last_event_id: str | None = Header(None, alias="Last-Event-ID"),
    ) -> HttpResponseBase:
        owner = request_owner(request)
        # The header wins: an EventSource opened at ?after=N sends the URL unchanged when it
        # reconnects, with the id of the last event it got in Last-Event-ID.
        start = parse_last_event_id(last_event_id, run_id) if last_event_id else (after or 0)
        run = await get_resumable_run(run_id, owner.key, slug)
        if await has_ended_before(run, start):
            # 204 tells an EventSource to stop reconnecting; an empty 200 would make it
            # reconnect for ever to a run that has nothing more to say.
            return HttpResponse(status=204)
        return sse_response(follow_run(run_id, owner.key, slug, start), run_id)

    @router.get(
        "/runs/{run_id}",
        response={200: RunStatusOut, **ERRORS},
        summary="A run's status",
        operation_id=f"{slug}_run_status",
    )
    async def run_status(request: HttpRequest, run_id: uuid.UUID) -> RunStatusOut:
        owner = request_owner(request)
        run = await get_run(run_id, owner.key, slug)
        if await expire_overdue(run) is not None:
            run = await get_run(run_id, owner.key, slug)
        return await run_status_out(run)

    @router.post(
        "/runs/{run_id}/cancel",
        response={200: RunStatusOut, **ERRORS},
        summary="Stop a run, from any process",
        operation_id=f"{slug}_cancel",
    )
    async def cancel(
        request: HttpRequest,
        run_id: uuid.UUID,
        mode: Literal["immediate", "after_turn"] = Query("immediate"),
    ) -> RunStatusOut:
        owner = request_owner(request)
        return run_out(await cancel_run(run_id, owner.key, slug, mode, by=owner.key))


def _session(owner: Owner, spec: AgentSpec, session_id: str) -> DjangoSession:
    if not settings.ENABLE_SESSIONS:
        raise NotFound("Sessions are disabled on this server (ENABLE_SESSIONS=false)")
    return DjangoSession(session_id, agent=spec.slug, owner=owner.key)


async def _idle_session(owner: Owner, spec: AgentSpec, session_id: str) -> DjangoSession:
    """The session, for a change that must not race a run (delete, rewind): 409 during one."""
    session = _session(owner, spec, session_id)
    if await is_running(session.owner, spec.slug, session_id):
        raise ConversationBusy("A run is in progress for this session; cancel it first")
    return session


# RunStatus.AWAITING_APPROVAL's value, as the literal PausedRunOut.status is.
AWAITING_APPROVAL: Final = "awaiting_approval"


def approval_out(approval: ToolApproval) -> ApprovalOut:
    return ApprovalOut(
        id=str(approval.id),
        tool_name=approval.tool_name,
        arguments=approval.arguments,
        call_id=approval.call_id,
        requested_at=approval.requested_at.isoformat(),
        expires_at=approval.expires_at.isoformat(),
    )


def approval_from_event(event: dict[str, Any]) -> ApprovalOut:
    """An ``approval_requested`` event as the run status lists it."""
    return ApprovalOut(
        id=event["approval_id"],
        tool_name=event["tool_name"],
        arguments=event["tool_arguments"],
        call_id=event["call_id"],
        requested_at=event["requested_at"],
        expires_at=event["expires_at"],
    )


async def run_status_out(run: Run) -> RunStatusOut:
    """``run_out`` with the calls the run waits on."""
    status = run_out(run)
    status.approvals = [approval_out(approval) for approval in await pending_approvals(run)]
    return status


def run_out(run: Run) -> RunStatusOut:
    return RunStatusOut(
        run_id=str(run.id),
        agent=run.agent,
        session_id=run.session_id or None,
        status=run.status,
        model=run.model,
        usage=UsageOut(**run.usage),
        event_count=run.event_count,
        error=run.error,
        cancelled_by=run.cancelled_by,
        started_at=run.started_at.isoformat(),
        finished_at=run.finished_at.isoformat() if run.finished_at else None,
    )


def agent_info(spec: AgentSpec) -> dict[str, Any]:
    agent = spec.agent
    base = f"/{spec.slug}"
    return {
        "name": agent.name,
        "agent_name": agent.name,
        "slug": spec.slug,
        "instructions": instructions_text(agent),
        "model": model_name_for(spec.slug),
        "tools_count": len(agent.tools),
        "handoffs_count": len(agent.handoffs),
        "endpoints": {
            "run": f"{base}/run",
            "stream": f"{base}/stream",
            "get_session": f"{base}/session/{{session_id}}",
            "clear_session": f"{base}/session/{{session_id}}",
            "info": f"{base}/info",
            "sessions": f"{base}/sessions",
            "rewind": f"{base}/session/{{session_id}}/rewind",
            "fork": f"{base}/session/{{session_id}}/fork",
            "branch": f"{base}/session/{{session_id}}/branch",
            "feedback": f"{base}/session/{{session_id}}/items/{{position}}/feedback",
            "run_status": f"{base}/runs/{{run_id}}",
            "resume": f"{base}/runs/{{run_id}}/stream",
            "cancel": f"{base}/runs/{{run_id}}/cancel",
            "approvals": f"{base}/runs/{{run_id}}/approvals",
            "websocket": f"/ws/{spec.slug}/",
            "ui_chat": f"{base}/ui/chat",
            "ui_chat_resume": f"{base}/ui/chat/{{session_id}}/stream",
            "ag_ui": f"{base}/ag-ui",
        },
        "session_config": {
            "sessions_enabled": settings.ENABLE_SESSIONS,
            "db_path": database_label(),
            "env_variables": {
                "ENABLE_SESSIONS": str(settings.ENABLE_SESSIONS).lower(),
                "SESSION_HISTORY_LIMITS": ",".join(
                    f"{slug}={limit}" for slug, limit in settings.SESSION_HISTORY_LIMITS.items()
                ),
            },
            "enabled": settings.ENABLE_SESSIONS,
            "backend": "django",
            "database": connection.vendor,
            "session_id_pattern": SESSION_ID_PATTERN.pattern,
        },
        "provider": provider_name(),
        "offline": is_offline(),
        "description": spec.description,
        "tools": [tool.name for tool in agent.tools if isinstance(tool, FunctionTool)],
        "handoffs": [
            target.agent_name if isinstance(target, Handoff) else target.name
            for target in agent.handoffs
            if isinstance(target, Handoff | Agent)
        ],
    }


def database_label() -> str:
    """Where conversations are stored, as the FastAPI app's ``db_path`` told it, without
    revealing the server's file system or credentials: the SQLite file's name, or the
    database's name on its server."""
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite":
        return PurePath(name).name
    return f"{connection.vendor}:{name}"
