"""Request and response bodies of the agent API (the FastAPI app's shapes, DESIGN.md §5)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Annotated, Any, Literal, cast

from django.conf import settings
from ninja import Path, Query, Schema
from openai.types.responses import ResponseInputItemParam
from pydantic import AfterValidator, Field, StrictBool, StrictInt, TypeAdapter, field_validator
from pydantic import ValidationError as PydanticValidationError

from agentsite.feedback_models import COMMENT_MAX_CHARS
from agentsite.registry import AgentSpec
from agentsite.runs.service import AgentInput, OnDisconnect, RunRequest

SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SessionId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=SESSION_ID_PATTERN.pattern,
        description="Conversation id: 1–128 characters from A–Z a–z 0–9 . _ : -",
        examples=["demo-1"],
    ),
]


# Deeper JSON than this in a request's input or context is refused: no real input item nests
# more than a few levels, and every later step (validation, storage, the provider's client)
# walks it recursively.
MAX_JSON_DEPTH = 32


def check_json_text(value: Any, where: str) -> None:
    """``ValueError`` naming the place, for a string (or key) anywhere in ``value`` that holds
    a lone UTF-16 surrogate, or for nesting deeper than MAX_JSON_DEPTH.

    JSON's ``\\ud800`` escapes decode to lone surrogates, which no UTF-8 encoder accepts: the
    ``openai`` client raises on them on every later turn of a conversation that stored one.
    Iterative, so a deep value cannot exhaust the stack here.
    """
    pending: list[tuple[Any, str, int]] = [(value, where, 0)]
    while pending:
        node, path, depth = pending.pop()
        if isinstance(node, str):
            _check_unicode(node, path)
            continue
        if not isinstance(node, dict | list):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise ValueError(f"{path} is nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(node, dict):
            for key, child in node.items():
                _check_unicode(str(key), f"{path} (a key)")
                pending.append((child, f"{path}.{key}", depth + 1))
        else:
            pending.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(node))


def describe_validation_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    """Every problem pydantic (or django-ninja) found, in one line the client can act on:
    ``field.path: message; …``. The API's 422 bodies and the WebSocket's invalid-frame errors
    both say it this way.

    django-ninja puts where a value came from in front of its path (``body``, and ``body`` again
    as the name of the views' body parameter): noise to a client that sent a JSON object. A
    validator's ``ValueError`` comes with pydantic's "Value error, " prefix, dropped likewise.
    """
    return "; ".join(_describe(error) for error in errors)


def _describe(error: Mapping[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{location}: {message}" if location else message


def _check_unicode(text: str, path: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{path} contains a lone surrogate (U+{ord(text[exc.start]):04X}) at character "
            f"{exc.start}: send valid Unicode text (UTF-16 surrogates only come in pairs)"
        ) from None


@cache
def _input_item_adapter() -> TypeAdapter[ResponseInputItemParam]:
    return TypeAdapter(ResponseInputItemParam)


class RunBody(Schema):
    input: str | list[dict[str, Any]] = Field(
        description="The user's message, or a list of Responses API input items",
        examples=["Hello! My name is Ada and I work as a nurse."],
    )
    context: dict[str, Any] | None = Field(
        default=None, description="Free-form data passed to the agent's run context"
    )
    session_id: SessionId | None = None
    on_disconnect: Literal["cancel", "continue"] | None = Field(
        default=None,
        description="When the client goes away: cancel the run (API default) or let it finish "
        "so it can be resumed (web UI, WebSocket default)",
    )
    multitask: Literal["reject", "enqueue"] | None = Field(
        default=None,
        description="A run already in progress on this session: reject with 409, or wait for it",
    )

    @field_validator("input")
    @classmethod
    def input_not_empty(cls, value: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
        if isinstance(value, str) and not value.strip():
            raise ValueError("input must not be empty")
        if isinstance(value, list):
            if not value:
                raise ValueError("input must not be an empty list")
            for index, item in enumerate(value):
                try:
                    _input_item_adapter().validate_python(item)
                except PydanticValidationError:
                    raise ValueError(
                        f"input item {index} is not a Responses API input item, "
                        'e.g. {"role": "user", "content": "Hello"}'
                    ) from None
        check_json_text(value, "input")
        return value

    @field_validator("context")
    @classmethod
    def context_is_valid_text(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            check_json_text(value, "context")
        return value

    def run_request(self, spec: AgentSpec, owner: str, on_disconnect: OnDisconnect) -> RunRequest:
        """The run this body asks for, whichever transport carried it (``POST /run``,
        ``/stream``, a WebSocket ``run`` frame): they differ only in the ``on_disconnect``
        a body that does not choose one gets."""
        return RunRequest(
            spec=spec,
            # input_not_empty checked each item as a Responses API input item.
            input=cast(AgentInput, self.input),
            owner=owner,
            session_id=self.session_id,
            context=self.context or {},
            on_disconnect=self.on_disconnect or on_disconnect,
            multitask=self.multitask or settings.MULTITASK,
        )


class UsageOut(Schema):
    requests: int
    input_tokens: int
    output_tokens: int
    total_tokens: int


class ApprovalOut(Schema):
    id: str = Field(description="The approval id to decide with POST /{agent}/runs/{id}/approvals")
    tool_name: str
    arguments: str = Field(description="The call's arguments as the model wrote them (JSON)")
    call_id: str
    requested_at: str
    expires_at: str


class RunOut(Schema):
    final_output: Any = None
    success: bool
    error: str | None = None
    code: str | None = Field(default=None, description="What went wrong, e.g. provider_auth")
    usage: UsageOut | None = None
    response_id: str | None = None
    session_id: str | None = None


class PausedRunOut(RunOut):
    """``/run`` of a run that paused on tool calls needing approval: ``RunOut`` and the calls."""

    run_id: str
    status: Literal["awaiting_approval"]
    approvals: list[ApprovalOut] = Field(description="The calls waiting for a decision")


class DecisionIn(Schema):
    id: uuid.UUID = Field(description="An approval id from the run's status")
    approve: StrictBool
    reason: str = Field("", max_length=2000, description="Told to the model with a rejection")
    always: StrictBool = Field(
        False, description="Approve this tool for the rest of the conversation (approvals only)"
    )

    @field_validator("reason")
    @classmethod
    def reason_is_valid_text(cls, value: str) -> str:
        check_json_text(value, "reason")
        return value


class ApprovalsBody(Schema):
    decisions: list[DecisionIn] = Field(min_length=1, max_length=100)


class RunStatusOut(Schema):
    run_id: str
    agent: str
    session_id: str | None
    status: str
    model: str
    usage: UsageOut
    event_count: int
    error: str
    cancelled_by: str
    started_at: str
    finished_at: str | None
    approvals: list[ApprovalOut] = Field(
        default=[], description="The calls waiting for a decision (status awaiting_approval)"
    )
    success: bool = True


class ConversationOut(Schema):
    session_id: str
    agent: str
    title: str
    item_count: int
    created_at: str
    updated_at: str
    active: bool


class SessionListOut(Schema):
    sessions: list[ConversationOut]
    page: int
    page_size: int
    total: int
    has_more: bool
    success: bool = True

    @classmethod
    def page_of(
        cls, rows: list[dict[str, Any]], total: int, page: int, page_size: int
    ) -> SessionListOut:
        """One page of conversation rows (``list_conversations``) with its paging keys."""
        return cls(
            sessions=[ConversationOut(**row) for row in rows],
            page=page,
            page_size=page_size,
            total=total,
            has_more=page * page_size < total,
        )


class ErrorOut(Schema):
    success: bool = False
    error: str
    code: str | None = None
    detail: Any = None


def error_responses(*codes: int) -> dict[int, type[ErrorOut]]:
    """A route's ``response`` entries for the JSON errors it may answer (all ``ErrorOut``)."""
    return dict.fromkeys(codes, ErrorOut)


# A session id in a URL path, held to the rule a body's ``session_id`` is.
SessionIdPath = Path(..., pattern=SESSION_ID_PATTERN.pattern, max_length=128)
# A list of conversations' page, page size and search words (per agent and across agents).
PageQuery = Query(1, ge=1, le=100_000)
PageSizeQuery = Query(20, ge=1, le=100)
SearchQuery = Query(
    "", max_length=200, description="Only conversations whose title or text has every word"
)


class ForkOut(Schema):
    position: int = Field(description="The user message's position (see item_positions)")
    turn: int = Field(description="Its user turn on the active branch (1 = the first)")
    branches: list[int] = Field(description="The branch of each version of it, oldest first")
    index: int = Field(description="Which of them (1-based) is the one shown: the UI's n/m")


def _feedback_comment(value: str) -> str:
    check_json_text(value, "comment")
    return value.strip()


FeedbackComment = Annotated[
    str,
    Field(max_length=COMMENT_MAX_CHARS, description="Why (optional; replaces the earlier one)"),
    AfterValidator(_feedback_comment),
]


class FeedbackBody(Schema):
    rating: Literal["up", "down"] = Field(description="Thumbs up or thumbs down")
    comment: FeedbackComment = ""


class FeedbackOut(Schema):
    position: int = Field(description="The rated assistant item's position")
    rating: Literal["up", "down"]
    comment: str
    run_id: str | None = Field(description="The run that wrote the reply, when known")
    model: str
    created_at: str
    updated_at: str


class FeedbackSavedOut(Schema):
    session_id: str
    position: int
    feedback: FeedbackOut | None = Field(description="The rating kept now; null once cleared")
    success: bool = True


class SessionOut(Schema):
    session_id: str
    messages: Sequence[Mapping[str, Any]]
    message_count: int = Field(description="How many items this page holds")
    success: bool
    error: str | None = None
    total: int = Field(0, description="How many items the conversation holds")
    has_more: bool = Field(False, description="Older items exist before this page")
    next_before: int | None = Field(
        None, description="Pass as ?before= to read the page before this one"
    )
    item_times: list[str] = Field(
        default_factory=list, description="When each of `messages` was stored (ISO 8601)"
    )
    runs: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The conversation's runs, oldest first: run_id, status, model, usage, "
        "started_at, finished_at",
    )
    item_positions: list[int] = Field(
        default_factory=list,
        description="Each of `messages`' position: what `POST …/fork` names a user message by, "
        "and what feedback on a reply names",
    )
    branch: int = Field(1, description="The active branch, whose items these are (1 = main)")
    branch_count: int = Field(1, description="How many branches the conversation has")
    forks: list[ForkOut] = Field(
        default_factory=list,
        description="The user messages of this page that have other versions (edited and "
        "resent): switch to one with `POST …/branch`",
    )
    feedback: list[FeedbackOut] = Field(
        default_factory=list, description="The caller's feedback on this page's items"
    )


class ClaimOut(Schema):
    count: int = Field(description="Conversations claimable (GET) or claimed (POST)")
    success: bool = True


class RenameBody(Schema):
    title: str = Field(min_length=1, max_length=200)

    @field_validator("title")
    @classmethod
    def not_blank(cls, title: str) -> str:
        if not title.strip():
            raise ValueError("title must not be blank")
        return title.strip()


class ForkBody(Schema):
    position: StrictInt = Field(
        ge=0,
        le=2**62,
        description="The position (item_positions) of the active branch's user message to "
        "edit: the new branch holds the items before it",
    )


class BranchBody(Schema):
    branch: StrictInt = Field(ge=1, le=2**31 - 1, description="The branch to make active")


class BranchOut(Schema):
    session_id: str
    branch: int = Field(description="The active branch now")
    branch_count: int
    input: Any = Field(
        None, description="After a fork: the edited user message's content, to edit and send"
    )
    success: bool = True


class RewindOut(Schema):
    input: Any = Field(description="The removed user message's content, to send again")
    success: bool


class MessageOut(Schema):
    message: str
    success: bool


class EndpointsOut(Schema):
    run: str
    stream: str
    get_session: str
    clear_session: str
    info: str
    sessions: str
    rewind: str
    fork: str = Field("", description="Edit an earlier user message (fork the conversation)")
    branch: str = Field("", description="Switch the conversation's active branch")
    feedback: str = Field("", description="PUT/DELETE: rate an assistant reply")
    run_status: str
    resume: str
    cancel: str
    approvals: str = ""
    websocket: str
    ui_chat: str = Field(description="AI SDK useChat (UI message stream v1)")
    ui_chat_resume: str
    ag_ui: str = Field(description="AG-UI (RunAgentInput → AG-UI events)")


class SessionConfigOut(Schema):
    sessions_enabled: bool
    db_path: str = Field(description="The SQLite file's name, or the database's name")
    env_variables: dict[str, str]
    enabled: bool
    backend: str
    database: str
    session_id_pattern: str


class InfoOut(Schema):
    name: str = Field(description="The agent's display name")
    agent_name: str
    slug: str = Field(description="The path the agent is mounted at")
    instructions: str | None
    model: str
    tools_count: int
    handoffs_count: int
    endpoints: EndpointsOut
    session_config: SessionConfigOut
    provider: str
    offline: bool
    description: str = ""
    tools: list[str] = []
    handoffs: list[str] = []


class ProviderStatusOut(Schema):
    status: Literal["ok", "offline", "unreachable", "error"] = Field(
        description="offline: the built-in model answers; unreachable: no connection to the "
        "provider; error: it answered but cannot serve runs (bad key, unknown model, …)"
    )
    reachable: bool | None
    base_url: str | None
    api: str | None
    model: str
    error: str | None
    checked_at: float = Field(description="Unix time of the (cached) check")


class HealthOut(Schema):
    status: str = Field(description="ok; degraded when the database or the provider is not")
    database: str
    provider: str
    offline: bool
    agents: list[str]
    provider_status: ProviderStatusOut
