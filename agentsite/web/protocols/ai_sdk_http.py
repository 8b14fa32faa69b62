"""``POST /{agent}/ui/chat`` and ``GET /{agent}/ui/chat/{id}/stream``: the AI SDK's
``DefaultChatTransport`` (``useChat``) against the run service (DESIGN.md §8).

The transport sends the whole chat each time; the server owns the history, so only the
trailing new user message is taken (``id`` is the conversation's session id). ``regenerate``
removes the conversation's last turn first, as ``POST /{agent}/session/{id}/rewind`` does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from ninja import Field, Path, Router, Schema
from pydantic import model_validator

from agentsite.conversations.leases import active_run, is_running
from agentsite.conversations.session import DjangoSession
from agentsite.errors import BadRequest, ConversationBusy
from agentsite.registry import AgentSpec
from agentsite.runs.approvals import ApprovalDecision, decide
from agentsite.runs.hub import LiveRun
from agentsite.runs.service import AgentInput, RunRequest, follow_run, get_resumable_run
from agentsite.web.protocols.ai_sdk import UIMessageStreamEncoder
from agentsite.web.protocols.base import handoff_tool_names
from agentsite.web.protocols.http import stream_run
from agentsite.web.schemas import (
    SESSION_ID_PATTERN,
    SessionId,
    check_json_text,
    error_responses,
)
from agentsite.web.security import request_owner
from agentsite.web.sse import sse_openapi, sse_response

MAX_MESSAGES = 10_000
MAX_PARTS = 1_000
UI_STREAM_OPENAPI = sse_openapi(
    "The AI SDK UI message stream v1 (header `x-vercel-ai-ui-message-stream: v1`), ending "
    "with `data: [DONE]`",
    "One UI message chunk as JSON (`start`, `text-delta`, `tool-input-available`, …)",
    event_id="not sent: a resumed stream starts again from `start`",
)
ERRORS = error_responses(400, 401, 404, 409, 413, 415, 422, 429, 503)


class UIMessageIn(Schema):
    id: str = Field(max_length=256)
    role: Literal["system", "user", "assistant"]
    parts: list[dict[str, Any]] = Field(max_length=MAX_PARTS)
    metadata: Any = None


class UIChatBody(Schema):
    """``DefaultChatTransport``'s body. Keys an application adds with the transport's ``body``
    option are ignored, except ``on_disconnect`` (as on ``/stream``) and ``context`` (the
    run context)."""

    id: SessionId
    messages: list[UIMessageIn] = Field(min_length=1, max_length=MAX_MESSAGES)
    trigger: Literal["submit-message", "regenerate-message"] = "submit-message"
    messageId: str | None = Field(default=None, max_length=256)
    on_disconnect: Literal["cancel", "continue"] | None = None
    context: dict[str, Any] | None = None

    @model_validator(mode="after")
    def ends_with_user_text(self) -> UIChatBody:
        last = self.messages[-1]
        if last.role == "assistant" and approval_responses(last):
            return self
        if last.role != "user":
            raise ValueError("messages must end with the user's new message")
        if not user_text(last).strip():
            raise ValueError("the user's new message has no text part")
        for index, message in enumerate(self.messages):
            check_json_text(user_text(message), f"messages[{index}].parts")
        if self.context is not None:
            check_json_text(self.context, "context")
        return self


def approval_responses(message: UIMessageIn) -> list[ApprovalDecision]:
    """The decisions in a reply's tool parts answered with ``addToolApprovalResponse``."""
    decisions = []
    for part in message.parts:
        approval = part.get("approval")
        if part.get("state") != "approval-responded" or not isinstance(approval, dict):
            continue
        try:
            approval_id = uuid.UUID(str(approval.get("id")))
        except ValueError:
            raise ValueError("an approval response names no approval of this server") from None
        reason = approval.get("reason")
        approved = approval.get("approved") is True
        decisions.append(ApprovalDecision(approval_id, approved, str(reason or "")))
    return decisions


def denied_calls(message: UIMessageIn) -> set[str]:
    """The tool calls of the reply that the person rejected."""
    return {
        str(part.get("toolCallId"))
        for part in message.parts
        if part.get("state") == "approval-responded"
        and isinstance(part.get("approval"), dict)
        and part["approval"].get("approved") is not True
    }


def chat_input(messages: list[UIMessageIn]) -> AgentInput:
    """The run's input: the new user message when the server keeps the conversation; without
    sessions (ENABLE_SESSIONS=false) the chat the client holds, as input items."""
    if settings.ENABLE_SESSIONS:
        return user_text(messages[-1])
    return [
        {"role": message.role, "content": user_text(message)}
        for message in messages
        if message.role in ("user", "assistant") and user_text(message).strip()
    ]


def user_text(message: UIMessageIn) -> str:
    """The text of a UI message: its text parts, one per line."""
    texts = [part.get("text") for part in message.parts if part.get("type") == "text"]
    return "\n".join(text for text in texts if isinstance(text, str))


def add_routes(router: Router, spec: AgentSpec) -> None:
    handoff_tools = handoff_tool_names(spec.agent)

    def encoder_for(session_id: str | None) -> Callable[[LiveRun], UIMessageStreamEncoder]:
        return lambda live: UIMessageStreamEncoder(live.run_id, session_id, handoff_tools)

    @router.post(
        "/ui/chat",
        response={200: None, **ERRORS},
        openapi_extra=UI_STREAM_OPENAPI,
        summary=f"Chat with {spec.slug} as the AI SDK's useChat expects (UI message stream v1)",
        operation_id=f"{spec.slug}_ui_chat",
    )
    async def ui_chat(request: HttpRequest, body: UIChatBody) -> HttpResponseBase:
        owner = request_owner(request)
        if body.messages[-1].role == "assistant":
            return await _answer_approvals(owner.key, spec, body, handoff_tools)
        if body.trigger == "regenerate-message" and settings.ENABLE_SESSIONS:
            await _rewind(owner.key, spec, body.id)
        run = RunRequest(
            spec=spec,
            input=chat_input(body.messages),
            owner=owner.key,
            session_id=body.id,
            context=body.context or {},
            on_disconnect=body.on_disconnect or settings.SSE_ON_DISCONNECT,
            multitask=settings.MULTITASK,
        )
        session_id = body.id if settings.ENABLE_SESSIONS else None
        return await stream_run(run, encoder_for(session_id))

    @router.get(
        "/ui/chat/{session_id}/stream",
        response={200: None, 204: None, **ERRORS},
        openapi_extra=UI_STREAM_OPENAPI,
        summary="Resume the conversation's running reply from its start (204: none is running)",
        operation_id=f"{spec.slug}_ui_chat_resume",
    )
    async def ui_chat_resume(
        request: HttpRequest,
        session_id: str = Path(..., pattern=SESSION_ID_PATTERN.pattern, max_length=128),
    ) -> HttpResponseBase:
        owner = request_owner(request)
        run_id = await active_run(owner.key, spec.slug, session_id)
        if run_id is None:
            return HttpResponse(status=204)
        await get_resumable_run(run_id, owner.key, spec.slug)
        encoder = UIMessageStreamEncoder(run_id, session_id, handoff_tools)
        return sse_response(follow_run(run_id, owner.key, spec.slug, 0), run_id, encoder=encoder)


async def _answer_approvals(
    owner: str, spec: AgentSpec, body: UIChatBody, handoff_tools: frozenset[str]
) -> HttpResponseBase:
    """The chat answered the calls its last reply waits on (DESIGN.md §9): decide them; the
    run resumes and this response streams the rest of that reply, the same message (its id is
    the run id)."""
    reply = body.messages[-1]
    try:
        run_id = uuid.UUID(reply.id)
    except ValueError:
        raise BadRequest("The answered message is not a reply of this server") from None
    run, live = await decide(run_id, owner, spec.slug, approval_responses(reply), by=owner)
    encoder = UIMessageStreamEncoder(
        run_id,
        body.id if settings.ENABLE_SESSIONS else None,
        handoff_tools,
        continue_after=live.offset if live is not None else run.event_count,
        denied_calls=denied_calls(reply),
    )
    return sse_response(follow_run(run_id, owner, spec.slug, 0), run_id, encoder=encoder)


async def _rewind(owner: str, spec: AgentSpec, session_id: str) -> None:
    """Remove the last turn, which the client is about to ask again (409 during a run)."""
    if await is_running(owner, spec.slug, session_id):
        raise ConversationBusy("A run is in progress for this session; cancel it first")
    await DjangoSession(session_id, agent=spec.slug, owner=owner).rewind_last_turn()
