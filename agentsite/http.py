"""The per-agent HTTP routes (DESIGN.md §5), written once and mounted by each agent app.

Views only translate: request bodies in, ``runs``/``sessions`` services called, JSON or SSE
out. Domain errors are turned into responses by the handlers in ``agentsite.api``.
"""

from __future__ import annotations

from typing import Any

from agents import Agent
from agents.handoffs import Handoff
from agents.tool import FunctionTool
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router, Status

from agentsite.conversations import is_running
from agentsite.errors import AgentSiteError, ConversationBusy, NotFound
from agentsite.events import usage_dict
from agentsite.owners import owner_for
from agentsite.providers import is_offline, model_name_for, provider_name
from agentsite.registry import AgentSpec, register
from agentsite.runs import AgentRun, RunRequest
from agentsite.schemas import (
    SESSION_ID_PATTERN,
    ErrorOut,
    InfoOut,
    MessageOut,
    RunBody,
    RunOut,
    SessionOut,
)
from agentsite.sessions import DjangoSession
from agentsite.sse import sse_response

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 404, 409, 413, 422, 500, 502)}
SSE_OPENAPI = {
    "responses": {
        200: {
            "description": "Server-Sent Events: one `data: <json>` line per event",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }
}


def agent_router(spec: AgentSpec) -> Router:
    """Routes for one agent: run, stream, session/{id} (GET, DELETE) and info."""
    register(spec)
    router = Router(tags=[spec.slug])

    def run_request(request: HttpRequest, body: RunBody) -> RunRequest:
        return RunRequest(
            spec=spec,
            input=body.input,
            owner=owner_for(request),
            session_id=body.session_id,
            context=body.context or {},
        )

    @router.post(
        "/run",
        response={**ERRORS, 200: RunOut, 409: RunOut, 500: RunOut, 502: RunOut},
        summary=f"Run {spec.slug} and return its final output",
    )
    async def run(request: HttpRequest, body: RunBody) -> Status[RunOut]:
        session_id = body.session_id if settings.ENABLE_SESSIONS else None
        try:
            agent_run = await AgentRun.start(run_request(request, body))
            outcome = await agent_run.complete()
        except AgentSiteError as error:
            return Status(
                error.status, RunOut(success=False, error=error.message, session_id=session_id)
            )
        return Status(
            200,
            RunOut(
                final_output=outcome.final_output,
                success=True,
                usage=usage_dict(outcome.usage),
                response_id=outcome.response_id,
                session_id=session_id,
            ),
        )

    @router.post(
        "/stream",
        response={409: ErrorOut, **ERRORS},
        openapi_extra=SSE_OPENAPI,
        summary=f"Run {spec.slug}, streaming its events as SSE",
    )
    async def stream(request: HttpRequest, body: RunBody) -> HttpResponse:
        agent_run = await AgentRun.start(run_request(request, body))
        return sse_response(agent_run.events())

    @router.get(
        "/session/{session_id}",
        response={200: SessionOut, **ERRORS},
        summary="The stored items of a conversation, oldest first",
    )
    async def get_session(
        request: HttpRequest,
        session_id: str = Path(..., pattern=SESSION_ID_PATTERN.pattern, max_length=128),
        limit: int | None = Query(None, ge=1, le=100_000, description="Only the latest N items"),
    ) -> SessionOut:
        session = _session(request, spec, session_id)
        messages = await session.get_items(limit)
        return SessionOut(
            session_id=session_id, messages=messages, message_count=len(messages), success=True
        )

    @router.delete(
        "/session/{session_id}",
        response={200: MessageOut, **ERRORS},
        summary="Delete a conversation and all its items",
    )
    async def clear_session(
        request: HttpRequest,
        session_id: str = Path(..., pattern=SESSION_ID_PATTERN.pattern, max_length=128),
    ) -> MessageOut:
        session = _session(request, spec, session_id)
        if await is_running(session.owner, spec.slug, session_id):
            raise ConversationBusy("A run is in progress for this session; cancel it first")
        await session.clear_session()
        return MessageOut(message=f"Session {session_id} cleared successfully", success=True)

    @router.get("/info", response=InfoOut, summary=f"Describe the {spec.slug} agent")
    async def info(request: HttpRequest) -> InfoOut:
        return InfoOut(**agent_info(spec))

    return router


def _session(request: HttpRequest, spec: AgentSpec, session_id: str) -> DjangoSession:
    if not settings.ENABLE_SESSIONS:
        raise NotFound("Sessions are disabled on this server (ENABLE_SESSIONS=false)")
    return DjangoSession(session_id, agent=spec.slug, owner=owner_for(request))


def agent_info(spec: AgentSpec) -> dict[str, Any]:
    agent = spec.agent
    base = f"/{spec.slug}"
    return {
        "name": spec.slug,
        "agent_name": agent.name,
        "instructions": agent.instructions if isinstance(agent.instructions, str) else None,
        "model": model_name_for(spec.slug),
        "tools_count": len(agent.tools),
        "handoffs_count": len(agent.handoffs),
        "endpoints": {
            "run": f"{base}/run",
            "stream": f"{base}/stream",
            "get_session": f"{base}/session/{{session_id}}",
            "clear_session": f"{base}/session/{{session_id}}",
            "info": f"{base}/info",
        },
        "session_config": {
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
