"""The WebSocket consumer of runs (DESIGN.md §6), written once: mounted for every registered agent
by ``agentsite.web.routing``, and by the research pipeline with its own ``run`` frame.

A thin protocol adapter over ``agentsite.runs.service``, like the SSE views in
``agentsite.web.routes``: the
same runs, the same event objects, the same ownership rules. Frames the client sends:

- ``{"type": "run", "input": …, "session_id"?, "context"?, "on_disconnect"?, "multitask"?}``
  starts a run (the body of ``POST /{agent}/stream``); its events follow as JSON text frames,
  each exactly the SSE event object plus ``run_id`` and ``seq`` (1, 2, … per run).
- ``{"type": "cancel", "mode"?: "immediate"|"after_turn", "run_id"?}`` stops the run this socket
  streams, or, with ``run_id``, another run of the caller's (answered with a ``run_status``
  frame). The streamed run ends with a ``run_cancelled`` event.
- ``{"type": "resume", "run_id": …, "after"?: N}`` replays a run's events after seq N, then
  follows it live (any process); a run with nothing after N is answered with ``run_status``.
- ``{"type": "approval", "run_id": …, "decisions": [{"id", "approve", "reason"?, "always"?}]}``
  decides the tool calls a paused run waits on (as ``POST /{agent}/runs/{id}/approvals``);
  once all are decided the run resumes and its events follow on this socket (seqs going on
  from the paused stream's), else a ``run_status`` frame answers with the calls still waiting.
- ``{"type": "feedback", "session_id": …, "position": N, "rating": "up"|"down"|null,
  "comment"?}`` rates the assistant reply at that position of one of the caller's conversations
  (as ``PUT /{agent}/session/{id}/items/{N}/feedback``; ``null`` clears it, as ``DELETE``),
  answered with a ``feedback_saved`` frame (``session_id``, ``position``, ``feedback``: the
  rating kept, or null), also while a run streams.
- ``{"type": "ping"}`` → ``{"type": "pong"}``.

A frame that cannot be served is answered with an ``error`` event carrying ``status`` (400 bad
frame, 404 not the caller's run, 409 busy, 422 invalid fields) and the socket stays open. One
socket streams one run at a time. When the socket closes, the run it started is cancelled only
if its ``on_disconnect`` policy (default ``WS_ON_DISCONNECT``) says so; otherwise it goes on and
can be resumed.

Authentication is checked at the handshake (``owner_for_scope``: API key header or
``?api_key=``, logged-in user, marked browser; a caller without a key only from the origins
``agentsite.web.origins`` allows), and the credential again before every frame that acts (all
but ``ping``), so a key revoked while its socket is open stops working there too. A refused
caller gets the connection accepted and then closed after an ``error`` event, with code 4401
(unauthorised) or 4403 (origin not allowed): a handshake refused before ``accept`` reaches
browsers only as an anonymous failure (HTTP 403, close code 1006), which a client cannot tell
from a network error. A ``ws/…`` path no agent is mounted at is refused at the handshake
(close code 4404 in ASGI; HTTP 403 on the wire).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any, Literal, TypeVar

from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings
from django.urls import URLPattern, re_path
from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError

from agentsite.errors import (
    AgentSiteError,
    BadRequest,
    Forbidden,
    Unauthorized,
    translate_error,
)
from agentsite.feedback_models import Rating
from agentsite.governance.feedback import clear_feedback, feedback_out, give_feedback
from agentsite.models import Run
from agentsite.registry import AgentSpec
from agentsite.runs.approvals import ApprovalDecision, decide, pending_approvals
from agentsite.runs.eventlog import Numbered
from agentsite.runs.events import error_event
from agentsite.runs.hub import TERMINAL_TYPES, CancelMode, LiveRun
from agentsite.runs.service import (
    OnDisconnect,
    RunRequest,
    WorkRequest,
    cancel_run,
    follow_run,
    get_resumable_run,
    get_run,
    start_run,
)
from agentsite.web.owners import Owner, owner_for_scope, reauthenticate_scope
from agentsite.web.schemas import (
    SESSION_ID_PATTERN,
    DecisionIn,
    FeedbackComment,
    RunBody,
    SessionId,
    describe_validation_errors,
)

# Application close codes (4000–4999 are free for applications, RFC 6455 §7.4.2).
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NO_ROUTE = 4404
REFUSAL_CLOSE_CODES = {401: CLOSE_UNAUTHORIZED, 403: CLOSE_FORBIDDEN}
# Frames that act for the caller: its credential is checked again before each one.
REAUTHENTICATED_FRAMES = ("run", "cancel", "resume", "approval", "feedback")
FRAME_TYPES = ("run", "cancel", "resume", "approval", "feedback", "ping")
FrameModel = TypeVar("FrameModel", bound=BaseModel)
# What a ``run`` frame asks for, read by the app that mounts the consumer; it raises an
# ``AgentSiteError`` (422) for a frame it cannot serve.
RunFrameReader = Callable[[dict[str, Any], Owner], RunRequest | WorkRequest]


class InvalidFrame(AgentSiteError):
    status = 422
    message = "Invalid frame"


class SocketBusy(AgentSiteError):
    status = 409
    message = "This socket is already streaming a run; cancel it or wait for its last event"


class NothingToCancel(AgentSiteError):
    status = 409
    message = "No run is streaming on this socket; send run_id to cancel another"


class CancelFrame(BaseModel):
    mode: Literal["immediate", "after_turn"] = "immediate"
    run_id: uuid.UUID | None = None


class ResumeFrame(BaseModel):
    run_id: uuid.UUID
    after: int = Field(0, ge=0)


class ApprovalFrame(BaseModel):
    run_id: uuid.UUID
    decisions: list[DecisionIn] = Field(min_length=1, max_length=100)


class FeedbackFrame(BaseModel):
    """``PUT …/feedback``'s body plus the reply it names; a null rating clears it."""

    session_id: SessionId
    position: int = Field(ge=0, le=2**63 - 1)
    rating: Literal["up", "down"] | None
    comment: FeedbackComment = ""


def agent_websocket_path(spec: AgentSpec) -> URLPattern:
    """The route of one agent's consumer: ``ws/{slug}/`` (the trailing slash is optional)."""
    return run_websocket_path(spec.slug, partial(agent_run_request, spec))


def run_websocket_path(slug: str, read_run: RunFrameReader) -> URLPattern:
    """The route of a consumer whose runs are named ``slug`` in the ledger and whose ``run``
    frames ``read_run`` turns into run requests."""
    # django-stubs type re_path's target as a Django view; Channels routes ASGI apps with it.
    consumer = RunConsumer.as_asgi(slug=slug, read_run=read_run)
    return re_path(rf"^ws/{re.escape(slug)}/?$", consumer)  # type: ignore[arg-type]


def agent_run_request(spec: AgentSpec, frame: dict[str, Any], owner: Owner) -> RunRequest:
    """An agent's ``run`` frame: the body of ``POST /{agent}/stream``."""
    return validate(RunBody, frame).run_request(spec, owner.key, settings.WS_ON_DISCONNECT)


class RunConsumer(AsyncJsonWebsocketConsumer):
    """One client's socket for one agent's (or pipeline's) runs."""

    def __init__(self, *args: Any, slug: str, read_run: RunFrameReader, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slug = slug
        self.read_run = read_run
        self.owner: Owner | None = None
        # The task forwarding the run this socket streams (also while start_run waits its turn);
        # None again as soon as the run's last frame is on its way.
        self.stream: asyncio.Task[None] | None = None
        self.streamed_run: uuid.UUID | None = None
        # The run this socket started, with the policy that decides its fate on disconnect.
        self.started: LiveRun | None = None
        self.on_disconnect: OnDisconnect = settings.WS_ON_DISCONNECT
        # A cancel that came while the run was still being started, applied once it has been.
        self.pending_cancel: CancelMode | None = None
        # Every task this socket started (streams included), cancelled when it closes.
        self.tasks: set[asyncio.Task[None]] = set()
        self.handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "run": self.run,
            "cancel": self.cancel,
            "resume": self.resume,
            "approval": self.approval,
            "feedback": self.feedback,
            "ping": self.ping,
        }

    async def connect(self) -> None:
        try:
            owner = await owner_for_scope(self.scope)
        except (Unauthorized, Forbidden) as error:
            await self.accept()
            await refuse(self, error)
            return
        self.owner = owner
        await self.accept()

    async def disconnect(self, code: int) -> None:
        """Stop forwarding; cancel the run this socket started if its policy says so."""
        streaming = self.streaming
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if streaming and self.started is not None and self.on_disconnect == "cancel":
            self.started.cancel("immediate", "disconnect")
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Decode and dispatch one frame; whatever goes wrong is answered, never fatal."""
        if self.owner is None:
            return  # refused at the handshake; the close is on its way
        frame: dict[str, Any] = {}
        try:
            frame = decode_frame(text_data)
            kind = frame_type(frame, FRAME_TYPES)
            if kind in REAUTHENTICATED_FRAMES:
                await reauthenticate_scope(self.scope)
            handler = self.handlers.get(kind)
            assert handler is not None
            await handler(frame)
        except Unauthorized as error:
            self.owner = None
            await refuse(self, error)
        except Exception as exc:
            await self.send_error(exc, session_id_of(frame))

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        # As compact as the SSE data lines, and not \u-escaped.
        return json.dumps(content, ensure_ascii=False, separators=(",", ":"))

    # --- frames ------------------------------------------------------------------------------

    async def run(self, frame: dict[str, Any]) -> None:
        assert self.owner is not None
        request = self.read_run(frame, self.owner)
        self.ensure_idle()
        self.on_disconnect = request.on_disconnect
        self.started = None
        self.streamed_run = None
        self.pending_cancel = None
        session_id = session_id_of(frame)
        self.stream = self.spawn(self.start_and_forward(request, session_id), session_id)

    async def cancel(self, frame: dict[str, Any]) -> None:
        command = validate(CancelFrame, frame)
        target = command.run_id or self.streamed_run
        if target is None:
            if not self.streaming:
                raise NothingToCancel()
            # The run is being started (or waits its turn, multitask=enqueue). Interrupting
            # start_run could leave the conversation claimed until its lease expires; the run
            # is cancelled as soon as it exists instead, and ends with run_cancelled as usual.
            self.pending_cancel = command.mode
            return
        # The run this socket streams answers with its own run_cancelled event; any other run
        # with a run_status frame once it has stopped.
        report = target != self.streamed_run or not self.streaming
        self.spawn(self.cancel_and_report(target, command.mode, report), session_id_of(frame))

    async def resume(self, frame: dict[str, Any]) -> None:
        command = validate(ResumeFrame, frame)
        self.ensure_idle()
        assert self.owner is not None
        await get_resumable_run(command.run_id, self.owner.key, self.slug)
        self.started = None
        self.streamed_run = command.run_id
        events = follow_run(command.run_id, self.owner.key, self.slug, command.after)
        self.stream = self.spawn(self.forward(command.run_id, events, resumed=True), None)

    async def approval(self, frame: dict[str, Any]) -> None:
        command = validate(ApprovalFrame, frame)
        assert self.owner is not None
        owner, slug = self.owner.key, self.slug
        decisions = [
            ApprovalDecision(item.id, item.approve, item.reason, item.always)
            for item in command.decisions
        ]
        run, live = await decide(command.run_id, owner, slug, decisions, by=owner)
        if live is None or self.streaming:
            await self.send_json({**run_status(run), "approvals": await approvals_of(run)})
            return
        self.started = None
        self.streamed_run = run.id
        events = follow_run(run.id, owner, slug, live.offset)
        self.stream = self.spawn(self.forward(run.id, events), run.session_id or None)

    async def feedback(self, frame: dict[str, Any]) -> None:
        command = validate(FeedbackFrame, frame)
        assert self.owner is not None
        where = (self.owner.key, self.slug, command.session_id, command.position)
        saved: dict[str, Any] | None = None
        if command.rating is None:
            await clear_feedback(*where)
        else:
            given = await give_feedback(*where, Rating(command.rating), command.comment)
            saved = feedback_out(given)
        await self.send_json(
            {
                "type": "feedback_saved",
                "session_id": command.session_id,
                "position": command.position,
                "feedback": saved,
            }
        )

    async def ping(self, frame: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    # --- work that outlives one frame ----------------------------------------------------------

    async def start_and_forward(
        self, request: RunRequest | WorkRequest, session_id: str | None
    ) -> None:
        starting = asyncio.ensure_future(start_run(request))
        try:
            # Shielded: a start cut short by a disconnect could leave the conversation claimed
            # (its UPDATE done in the database thread) by a run that never runs.
            live = await asyncio.shield(starting)
        except asyncio.CancelledError:
            stop = request.on_disconnect == "cancel" or self.pending_cancel is not None
            starting.add_done_callback(partial(settle_orphan_start, stop))
            raise
        except Exception as exc:
            self.end_stream()
            await self.send_error(exc, session_id)
            return
        self.started = live
        self.streamed_run = live.run_id
        if self.pending_cancel is not None:
            assert self.owner is not None
            live.cancel(self.pending_cancel, self.owner.key)
        await self.forward(live.run_id, live.follow())

    async def forward(
        self, run_id: uuid.UUID, events: AsyncIterator[Numbered], *, resumed: bool = False
    ) -> None:
        """Send the run's events as frames; an error mid-stream becomes the last event."""
        sent = 0
        last: dict[str, Any] | None = None
        try:
            async with contextlib.aclosing(events):  # type: ignore[type-var]
                async for seq, event in events:
                    frame = {**event, "run_id": str(run_id), "seq": seq}
                    if event.get("type") in TERMINAL_TYPES:
                        last = frame
                        continue
                    await self.send_json(frame)
                    sent += 1
            # The last event is held back until the stream has ended (for a run of this process:
            # until the run has given its conversation back), and the socket is free before it
            # is sent: a client may answer it with its next run at once.
            self.end_stream()
            if last is not None:
                await self.send_json(last)
            elif resumed and not sent:
                await self.send_run_status(run_id)
        except Exception as exc:
            self.end_stream()
            await self.send_error(exc, None)

    async def cancel_and_report(self, run_id: uuid.UUID, mode: CancelMode, report: bool) -> None:
        assert self.owner is not None
        owner = self.owner.key
        run = await cancel_run(run_id, owner, self.slug, mode, by=owner)
        if report:
            await self.send_json(run_status(run))

    async def send_run_status(self, run_id: uuid.UUID) -> None:
        assert self.owner is not None
        await self.send_json(run_status(await get_run(run_id, self.owner.key, self.slug)))

    def spawn(self, work: Awaitable[None], session_id: str | None) -> asyncio.Task[None]:
        """Run work that outlives a frame (a stream; a cancel waiting for the run to stop) while
        the socket goes on receiving: Channels handles one frame at a time."""

        async def guarded() -> None:
            try:
                await work
            except Exception as exc:
                await self.send_error(exc, session_id)

        task = asyncio.create_task(guarded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # --- helpers -----------------------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        return self.stream is not None and not self.stream.done()

    def end_stream(self) -> None:
        if self.stream is asyncio.current_task():
            self.stream = None

    def ensure_idle(self) -> None:
        if self.streaming:
            current = f" ({self.streamed_run})" if self.streamed_run else ""
            raise SocketBusy(
                f"This socket is already streaming a run{current}; "
                "cancel it or wait for its last event"
            )

    async def send_error(self, exc: BaseException, session_id: str | None) -> None:
        error = translate_error(exc)
        await self.send_json(
            error_event(
                error.message,
                session_id,
                status=error.status,
                code=error.code,
                **error.event_keys(),
            )
        )


async def refuse(consumer: AsyncJsonWebsocketConsumer, error: AgentSiteError) -> None:
    """Tell a refused caller why (an ``error`` event), then close with 4401 or 4403."""
    await consumer.send_json(error_event(error.message, None, status=error.status, code=error.code))
    await consumer.close(code=REFUSAL_CLOSE_CODES[error.status])


def settle_orphan_start(stop: bool, starting: asyncio.Future[LiveRun]) -> None:
    """The end of a start whose socket closed meanwhile: cancel the run if its policy (or a
    cancel the client already sent) says so; a failed start has nobody left to tell."""
    if starting.cancelled() or starting.exception() is not None:
        return
    if stop:
        starting.result().cancel("immediate", "disconnect")


class NoRouteConsumer(AsyncWebsocketConsumer):
    """Refuses the handshake of a ``ws/…`` path no agent is mounted at, instead of letting the
    router raise (a traceback per stray request)."""

    async def connect(self) -> None:
        await self.close(code=CLOSE_NO_ROUTE)


def no_route_path() -> URLPattern:
    """The catch-all route; it must come after every agent's route."""
    # django-stubs type re_path's target as a Django view; Channels routes ASGI apps with it.
    return re_path(r"", NoRouteConsumer.as_asgi())  # type: ignore[arg-type]


def decode_frame(text: str | None) -> dict[str, Any]:
    """The frame as a JSON object; ``BadRequest`` for anything else.

    Frames larger than WS_MAX_FRAME_BYTES never get here (``agentsite.web.ws_flow`` refuses them).
    JSON nested deeper than the interpreter's recursion limit makes ``json.loads`` raise
    ``RecursionError``: a bad frame too.
    """
    if text is None:
        raise BadRequest("Send frames as JSON text, not binary")
    try:
        frame = json.loads(text)
    except ValueError:
        raise BadRequest("Malformed JSON frame") from None
    except RecursionError:
        raise BadRequest("JSON frame nested too deeply") from None
    if not isinstance(frame, dict):
        raise BadRequest('A frame must be a JSON object with a "type", e.g. {"type": "ping"}')
    return frame


def frame_type(frame: dict[str, Any], known: tuple[str, ...]) -> str:
    """The frame's ``type``, one of ``known``; ``BadRequest`` naming them otherwise (a list or
    an object as the type included)."""
    kind = frame.get("type")
    if not isinstance(kind, str) or kind not in known:
        shown = repr(kind) if isinstance(kind, str | None) else f"of JSON type {_json_type(kind)}"
        raise BadRequest(f"Unknown frame type {shown[:80]}; expected one of {', '.join(known)}")
    return kind


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", bool: "boolean", int: "number", float: "number"}
    return names.get(type(value), type(value).__name__)


def validate(schema: type[FrameModel], frame: dict[str, Any]) -> FrameModel:
    """The frame's fields (``type`` aside) as ``schema``; 422 naming every problem."""
    fields = {key: value for key, value in frame.items() if key != "type"}
    try:
        return schema.model_validate(fields)
    except PydanticValidationError as exc:
        problems = describe_validation_errors(exc.errors())
        raise InvalidFrame(f"Invalid {frame.get('type')} frame: {problems}") from None


def session_id_of(frame: dict[str, Any]) -> str | None:
    """The frame's session id, echoed in error events only when it is a valid one."""
    value = frame.get("session_id")
    return value if isinstance(value, str) and SESSION_ID_PATTERN.match(value) else None


async def approvals_of(run: Run) -> list[dict[str, Any]]:
    """The calls a run waits on, as ``GET /{agent}/runs/{id}`` lists them."""
    return [
        {
            "id": str(approval.id),
            "tool_name": approval.tool_name,
            "arguments": approval.arguments,
            "call_id": approval.call_id,
            "requested_at": approval.requested_at.isoformat(),
            "expires_at": approval.expires_at.isoformat(),
        }
        for approval in await pending_approvals(run)
    ]


def run_status(run: Run) -> dict[str, Any]:
    """A ``run_status`` frame: the state of a run this socket does not stream."""
    return {
        "type": "run_status",
        "run_id": str(run.id),
        "session_id": run.session_id or None,
        "status": run.status,
        "cancelled_by": run.cancelled_by,
        "event_count": run.event_count,
        "error": run.error,
    }
