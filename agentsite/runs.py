"""Start, stream and finish agent runs: the one place that talks to ``Runner``.

HTTP views and WebSocket consumers both call ``AgentRun``; they only translate what it yields
or raises. A run holds its conversation's lease (one run per conversation) from ``start`` until
it ends, however it ends: completed, failed, or cancelled because the client went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import openai
from agents import ModelSettings, RunConfig, Runner
from agents.exceptions import AgentsException
from agents.items import TResponseInputItem
from agents.usage import Usage
from django.conf import settings

from agentsite.conversations import claim_conversation, release_conversation, renew_lease
from agentsite.errors import AgentRunError, AgentSiteError, UpstreamError
from agentsite.events import EventEncoder, WireEvent, error_event, real_id, stream_complete
from agentsite.providers import get_model_provider, model_name_for
from agentsite.registry import AgentSpec
from agentsite.sessions import DjangoSession

logger = logging.getLogger(__name__)

AgentInput = str | list[TResponseInputItem]


@dataclass(frozen=True)
class RunContext:
    """The SDK run context: who asked (tools and the session see it) and the client's context."""

    owner: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRequest:
    spec: AgentSpec
    input: AgentInput
    owner: str
    session_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunOutcome:
    final_output: Any
    usage: Usage
    response_id: str | None
    last_agent: str
    current_turn: int


class AgentRun:
    """One run of one agent; create it with ``await AgentRun.start(request)``."""

    def __init__(self, request: RunRequest, session: DjangoSession | None, lease: uuid.UUID | None):
        self.request = request
        self.session = session
        self.model_name = model_name_for(request.spec.slug)
        self._lease = lease
        self._renewer: asyncio.Task[None] | None = None
        self._released = False

    @classmethod
    async def start(cls, request: RunRequest) -> AgentRun:
        """Take the conversation lease; raises ``ConversationBusy`` if a run holds it."""
        if not (settings.ENABLE_SESSIONS and request.session_id):
            return cls(request, None, None)
        lease = await claim_conversation(request.owner, request.spec.slug, request.session_id)
        session = DjangoSession(request.session_id, agent=request.spec.slug, owner=request.owner)
        return cls(request, session, lease)

    @property
    def session_id(self) -> str | None:
        return self.request.session_id if self.session is not None else None

    async def complete(self) -> RunOutcome:
        """Run to the end without streaming. Raises an ``AgentSiteError`` on failure."""
        usage: Usage | None = None
        self._keep_lease()
        try:
            result = await Runner.run(self.request.spec.agent, **self._run_arguments())
            usage = result.context_wrapper.usage
            return RunOutcome(
                final_output=result.final_output,
                usage=usage,
                response_id=real_id(result.last_response_id),
                last_agent=result.last_agent.name,
                current_turn=len(result.raw_responses),
            )
        except Exception as exc:
            raise translate_error(exc) from exc
        finally:
            await self._release(usage)

    async def events(self) -> AsyncIterator[WireEvent]:
        """The run's wire events, ending with ``stream_complete`` or ``error``.

        If the consumer stops iterating (client gone), the run is cancelled: no orphaned task
        keeps calling the model.
        """
        self._keep_lease()
        result = Runner.run_streamed(self.request.spec.agent, **self._run_arguments())
        encoder = EventEncoder(self.model_name)
        try:
            async for event in result.stream_events():
                wire = encoder.encode(event)
                if wire is not None:
                    yield wire
            yield stream_complete(
                result.final_output,
                result.current_turn,
                result.context_wrapper.usage,
                self.session_id,
                response_id=real_id(result.last_response_id),
                agent_name=result.last_agent.name,
            )
        except Exception as exc:
            error = translate_error(exc)
            yield error_event(error.message, self.session_id, status=error.status)
        finally:
            if not result.is_complete:
                result.cancel()
            await self._release(result.context_wrapper.usage)

    def _run_arguments(self) -> dict[str, Any]:
        return {
            "input": self.request.input,
            "context": RunContext(owner=self.request.owner, data=self.request.context),
            "session": self.session,
            "max_turns": settings.MAX_TURNS,
            "run_config": RunConfig(
                model=self.model_name,
                model_provider=get_model_provider(),
                # The SDK asks Chat Completions servers for usage in streams only when they are
                # api.openai.com; compatible servers (vLLM, Ollama, LiteLLM) report it too.
                model_settings=ModelSettings(include_usage=True),
                workflow_name=f"agentsite:{self.request.spec.slug}",
            ),
        }

    def _keep_lease(self) -> None:
        """Renew the lease while the run goes on; started only once the run really starts, so a
        run that is never iterated leaves a lease that simply expires."""
        if self._lease is not None and self._renewer is None:
            self._renewer = asyncio.create_task(self._renew_lease())

    async def _renew_lease(self) -> None:
        assert self._lease is not None
        interval = max(settings.RUN_LEASE_SECONDS / 3, 1)
        while True:
            await asyncio.sleep(interval)
            await renew_lease(self._lease)

    async def _release(self, usage: Usage | None) -> None:
        if self._released:
            return
        self._released = True
        if self._renewer is not None:
            self._renewer.cancel()
        if self._lease is not None:
            # Shielded: a cancelled stream must still give the conversation back.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(release_conversation(self._lease, usage))


_UPSTREAM_MODULES = ("openai", "httpx", "httpcore", "httpx2")


def translate_error(exc: BaseException) -> AgentSiteError:
    """Map whatever a run raised to the domain error the transports know how to send."""
    if isinstance(exc, AgentSiteError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamError("The model provider timed out")
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamError(f"The connection to the model provider failed: {exc}")
    if isinstance(exc, openai.APIStatusError):
        return UpstreamError(f"The model provider answered HTTP {exc.status_code}: {exc.message}")
    if any(cls.__module__.split(".")[0] in _UPSTREAM_MODULES for cls in type(exc).__mro__[:-1]):
        return UpstreamError(f"The model provider failed: {type(exc).__name__}: {exc}")
    if isinstance(exc, AgentsException):
        return AgentRunError(f"The agent run failed: {type(exc).__name__}: {exc}")
    logger.error("agent run failed unexpectedly", exc_info=exc)
    return AgentSiteError("Internal error while running the agent")
