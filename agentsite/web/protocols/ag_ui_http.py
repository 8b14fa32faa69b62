"""``POST /{agent}/ag-ui``: AG-UI's ``RunAgentInput`` against the run service (DESIGN.md §8).

``threadId`` is the conversation's session id. The client sends the whole thread each time;
the server owns the history, so only the new user messages at its end are taken. ``context``
and ``state`` reach the run context (``context["ag_ui"]``); ``forwardedProps.on_disconnect``
chooses what a dropped connection does to the run, as ``on_disconnect`` does on ``/stream``.
The client's own tools (``tools``) are not offered to the model: the agents' tools run here.

With ``Last-Event-ID: <run_id>:<seq>`` the request resumes that run's stream instead of
starting a run (the body is then only checked, not used).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from ninja import Field, Header, Router, Schema
from pydantic import model_validator

from agentsite.conversations.items import message_text
from agentsite.conversations.session import DjangoSession
from agentsite.errors import BadRequest, NotFound
from agentsite.models import ToolApproval
from agentsite.providers.selection import model_name_for
from agentsite.registry import AgentSpec
from agentsite.runs.approvals import ApprovalDecision, decide
from agentsite.runs.service import (
    AgentInput,
    RunRequest,
    follow_run,
    get_resumable_run,
    has_ended_before,
)
from agentsite.web.owners import Owner
from agentsite.web.protocols.ag_ui import AgUiEncoder
from agentsite.web.protocols.ag_ui_history import snapshot_messages
from agentsite.web.protocols.ai_sdk_http import ERRORS
from agentsite.web.protocols.base import handoff_tool_names
from agentsite.web.protocols.http import stream_run
from agentsite.web.schemas import SessionId, check_json_text
from agentsite.web.security import request_owner
from agentsite.web.sse import parse_last_event_id, sse_openapi, sse_response

MAX_MESSAGES = 10_000
AG_UI_OPENAPI = sse_openapi(
    "AG-UI events as Server-Sent Events; the run id is also in the `X-Run-Id` header",
    "One AG-UI event as JSON (`RUN_STARTED`, `TEXT_MESSAGE_CONTENT`, …)",
)
Role = Literal["developer", "system", "assistant", "user", "tool", "activity", "reasoning"]


class AgUiMessage(Schema):
    id: str = Field(max_length=256)
    role: Role
    content: Any = None


class RunAgentInput(Schema):
    threadId: SessionId
    runId: str = Field(min_length=1, max_length=256)
    parentRunId: str | None = Field(default=None, max_length=256)
    protocolVersion: str | None = Field(default=None, max_length=32)
    messages: list[AgUiMessage] = Field(max_length=MAX_MESSAGES)
    tools: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)
    context: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)
    state: Any = None
    forwardedProps: Any = None
    resume: list[dict[str, Any]] | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def valid_text(self) -> RunAgentInput:
        for index, message in enumerate(self.messages):
            check_json_text(message_text(message.content), f"messages[{index}].content")
        check_json_text(self.context, "context")
        check_json_text(self.state, "state")
        return self

    def new_user_messages(self) -> list[AgUiMessage]:
        """The user messages after the thread's last non-user message."""
        trailing: list[AgUiMessage] = []
        for message in reversed(self.messages):
            if message.role != "user":
                break
            trailing.insert(0, message)
        return trailing

    def on_disconnect(self) -> Literal["cancel", "continue"]:
        props = self.forwardedProps if isinstance(self.forwardedProps, dict) else {}
        choice = props.get("on_disconnect")
        if choice is not None and choice not in ("cancel", "continue"):
            raise BadRequest('forwardedProps.on_disconnect must be "cancel" or "continue"')
        return choice or settings.SSE_ON_DISCONNECT


def run_input(body: RunAgentInput) -> AgentInput:
    """The run's input: the new user messages (the text of one, or one input item each); without
    sessions (ENABLE_SESSIONS=false) the thread the client holds, as input items."""
    new = body.new_user_messages()
    texts = [message_text(message.content) for message in new]
    if not any(text.strip() for text in texts):
        raise BadRequest("RunAgentInput.messages must end with the user's new message (text)")
    held = body.messages if not settings.ENABLE_SESSIONS else new
    items = [
        {"role": message.role, "content": message_text(message.content)}
        for message in held
        if message.role in ("user", "assistant") and message_text(message.content).strip()
    ]
    # Responses API messages: the filter keeps the user and assistant roles, with text content.
    return texts[0] if len(items) == 1 and len(texts) == 1 else cast(AgentInput, items)


def add_routes(router: Router, spec: AgentSpec) -> None:
    handoff_tools = handoff_tool_names(spec.agent)

    @router.post(
        "/ag-ui",
        response={200: None, 204: None, **ERRORS},
        openapi_extra=AG_UI_OPENAPI,
        summary=f"Run {spec.slug} for an AG-UI client (HttpAgent); Last-Event-ID resumes",
        operation_id=f"{spec.slug}_ag_ui",
    )
    async def ag_ui(
        request: HttpRequest,
        body: RunAgentInput,
        last_event_id: str | None = Header(None, alias="Last-Event-ID"),
    ) -> HttpResponseBase:
        owner = request_owner(request)
        encoder: dict[str, Any] = {
            "thread_id": body.threadId,
            "client_run_id": body.runId,
            "model": model_name_for(spec.slug),
            "handoff_tools": handoff_tools,
        }
        if last_event_id:
            return await _resume(owner, spec, body, last_event_id, encoder)
        if body.resume:
            return await _answer_interrupts(owner, spec, body, encoder)
        run = RunRequest(
            spec=spec,
            input=run_input(body),
            owner=owner.key,
            session_id=body.threadId,
            context={"ag_ui": {"context": body.context, "state": body.state}},
            on_disconnect=body.on_disconnect(),
            multitask=settings.MULTITASK,
        )
        snapshot = await _snapshot(owner, spec, body.threadId, body)
        return await stream_run(
            run, lambda live: AgUiEncoder(run_id=live.run_id, snapshot=snapshot, **encoder)
        )


async def _resume(
    owner: Owner, spec: AgentSpec, body: RunAgentInput, last_event_id: str, encoder: Any
) -> HttpResponseBase:
    run_part = last_event_id.strip().rpartition(":")[0]
    try:
        run_id = uuid.UUID(run_part)
    except ValueError:
        raise BadRequest("Last-Event-ID must look like '<run_id>:<seq>'") from None
    after = parse_last_event_id(last_event_id, run_id)
    run = await get_resumable_run(run_id, owner.key, spec.slug)
    if run.session_id and run.session_id != body.threadId:
        raise BadRequest("Last-Event-ID belongs to a run of another thread")
    if await has_ended_before(run, after):
        return HttpResponse(status=204)
    events = follow_run(run_id, owner.key, spec.slug, 0)
    resumed = AgUiEncoder(run_id=run_id, resume_after=after, **encoder)
    return sse_response(events, run_id, encoder=resumed)


async def _answer_interrupts(
    owner: Owner, spec: AgentSpec, body: RunAgentInput, encoder: Any
) -> HttpResponseBase:
    """``resume[]`` answers the interrupts of a run paused for approvals (DESIGN.md §9): decide
    them; the run resumes and this response streams the rest of it."""
    decisions = [resume_decision(entry) for entry in body.resume or []]
    run_id = await _run_waiting_on(decisions[0].approval_id, owner.key, spec.slug)
    run, live = await decide(run_id, owner.key, spec.slug, decisions, by=owner.key)
    after = live.offset if live is not None else run.event_count
    resumed = AgUiEncoder(run_id=run_id, resume_after=after, **encoder)
    return sse_response(follow_run(run_id, owner.key, spec.slug, 0), run_id, encoder=resumed)


def resume_decision(entry: dict[str, Any]) -> ApprovalDecision:
    """One ``resume[]`` entry as a decision: ``resolved`` approves unless its payload says
    ``"approved": false``; ``cancelled`` rejects; ``payload.reason`` is kept."""
    try:
        approval_id = uuid.UUID(str(entry.get("interruptId")))
    except ValueError:
        raise BadRequest("resume[].interruptId must be an interrupt this server sent") from None
    status = entry.get("status")
    if status not in ("resolved", "cancelled"):
        raise BadRequest('resume[].status must be "resolved" or "cancelled"')
    sent = entry.get("payload")
    payload = sent if isinstance(sent, dict) else {}
    approved = status == "resolved" and payload.get("approved", True) is not False
    reason = payload.get("reason")
    return ApprovalDecision(approval_id, approved, reason if isinstance(reason, str) else "")


async def _run_waiting_on(approval_id: uuid.UUID, owner: str, agent: str) -> uuid.UUID:
    run_id = await (
        ToolApproval.objects.filter(pk=approval_id, run__owner_key=owner, run__agent=agent)
        .values_list("run_id", flat=True)
        .afirst()
    )
    if run_id is None:
        raise NotFound("No such interrupt")
    return run_id


async def _snapshot(
    owner: Owner, spec: AgentSpec, session_id: str, body: RunAgentInput
) -> list[dict[str, Any]] | None:
    """For a client that opens a thread (it sends only its new message) with stored history:
    that history and the new message, all under the server's ids. None otherwise.

    ``HttpAgent`` keeps the messages of a snapshot it already holds where they are and appends
    the others, dropping its own that the snapshot lacks; so a snapshot is only sent to a
    client that holds none of the thread, and names its new message by the server's id, or the
    new message would end up before the history."""
    new = body.new_user_messages()
    if not settings.ENABLE_SESSIONS or len(new) != len(body.messages):
        return None
    session = DjangoSession(session_id, agent=spec.slug, owner=owner.key)
    page = await session.read_page(settings.SESSION_PAGE_MAX_ITEMS)
    if not page.items:
        return None
    history = snapshot_messages(page.items, page.total - len(page.items))  # type: ignore[arg-type]
    sent = [
        {"id": f"item-{page.total + index}", "role": "user", "content": message_text(m.content)}
        for index, m in enumerate(new)
    ]
    return history + sent
