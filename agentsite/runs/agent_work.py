"""One agent's run as ``RunWork``: the only code that iterates ``Runner`` streams.

The SDK's stream events become wire events (``agentsite.runs.events``); a cancel goes to the
SDK's own ``cancel`` (``after_turn`` lets the current turn finish); a stopped reply's text is
kept in the conversation, so its history shows what the user saw. Tool calls that need approval
end the events with a ``pause`` unless the conversation approved those tools "always" earlier:
then they are approved and the run goes on (DESIGN.md §9).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from agents import Agent, ModelProvider, ModelSettings, RunConfig, Runner, RunState
from agents.result import RunResultStreaming
from agents.usage import Usage
from django.conf import settings

from agentsite.conversations.session import DjangoSession
from agentsite.models import Run
from agentsite.providers.selection import get_model_provider
from agentsite.runs.context import RunContext
from agentsite.runs.events import EventEncoder, WireEvent, real_id, stream_complete
from agentsite.runs.interrupted_usage import with_interrupted_response
from agentsite.runs.pauses import Pause, apply_standing_approvals, new_approvals, serialize_state
from agentsite.runs.work import RunWork

if TYPE_CHECKING:
    from agentsite.runs.service import AgentInput


class AgentWork(RunWork):
    def __init__(
        self,
        *,
        run: Run,
        agent: Agent[RunContext],
        # A paused run resumes from its RunState, whose context it carries (context None).
        input: AgentInput | RunState[RunContext, Agent[RunContext]],
        context: RunContext | None,
        session: DjangoSession | None,
    ) -> None:
        self.run = run
        self.agent = agent
        self.input = input
        self.context = context
        self.session = session
        self.session_id = run.session_id or None
        # The SDK's latest streamed result (one per approval round): its usage is the run's.
        self.result: RunResultStreaming | None = None
        # The assistant text of the message being streamed when the run stopped.
        self.partial = ""
        self._cancel_mode: str | None = None
        # A model response has started and not completed: its usage is not reported yet.
        self._response_open = False
        # What a cancel cut short (the items sent, the text streamed back), counted by estimate.
        self._cut_short: tuple[list[Any], str] | None = None

    @property
    def usage(self) -> Usage:
        usage = self.result.context_wrapper.usage if self.result is not None else Usage()
        if self._cut_short is not None:
            return with_interrupted_response(usage, *self._cut_short)
        return usage

    async def events(self) -> AsyncIterator[WireEvent]:
        input = self.input
        while True:
            result = self.result = Runner.run_streamed(
                self.agent,
                input=input,
                context=self.context,
                session=self.session,
                max_turns=settings.MAX_TURNS,
                hooks=self.hooks,
                run_config=run_config(self.run.model, self.run.agent, get_model_provider()),
            )
            if self._cancel_mode is not None:
                result.cancel(self._cancel_mode)  # type: ignore[arg-type]
            encoder = EventEncoder(self.run.model)
            self.partial = ""
            try:
                async for event in result.stream_events():
                    wire = encoder.encode(event)
                    self._track_partial(wire)
                    yield wire
            finally:
                if not result.is_complete:
                    result.cancel()
            if self._cancel_mode is not None or not result.interruptions:
                return
            state = result.to_state()
            waiting = await apply_standing_approvals(self.run, state)
            if waiting:
                self.pause = Pause(serialize_state(state), new_approvals(self.run.id, waiting))
                return
            input = state

    def _track_partial(self, wire: WireEvent) -> None:
        """Keep the assistant text of the message being streamed, for a cancel."""
        kind = wire.get("event_type") or wire.get("name")
        if kind == "response.created":
            self._response_open = True
        elif kind == "response.completed":
            self._response_open = False
        if kind in ("response.created", "message_output_created"):
            self.partial = ""
        elif kind == "response.output_text.delta":
            self.partial += wire["delta"]

    def cancel(self, mode: str) -> None:
        self._cancel_mode = mode
        if self.result is not None:
            self.result.cancel(mode)  # type: ignore[arg-type]

    def completed(self) -> WireEvent:
        result = self.result
        assert result is not None
        return stream_complete(
            result.final_output,
            result.current_turn,
            result.context_wrapper.usage,
            self.session_id,
            response_id=real_id(result.last_response_id),
            agent_name=result.last_agent.name,
        )

    async def cancelled(self) -> dict[str, Any]:
        """Store the text the user already saw, so the history shows what they saw; count the
        response the cancel cut short (``interrupted_usage``)."""
        if self._response_open:
            self._cut_short = (await self._sent_items(), self.partial)
        if self.session is not None and self.partial.strip():
            await self.session.add_interrupted_reply(self.partial)
        final_output = self.result.final_output if self.result is not None else None
        return {
            "partial_output": self.partial,
            "final_output": final_output
            if isinstance(final_output, str | None)
            else str(final_output),
        }

    async def _sent_items(self) -> list[Any]:
        """What the interrupted response was given: the stored history (which holds this
        run's input by then), or the input alone for a run without a session."""
        if self.session is not None:
            return list(await self.session.get_items())
        if isinstance(self.input, list):
            return self.input
        return [self.input]


@functools.lru_cache(maxsize=64)
def run_config(model: str, agent: str, provider: ModelProvider) -> RunConfig:
    """The run configuration of an agent's runs, built once: the SDK resolves type hints each
    time a RunConfig is made (a few % of a short streamed run's CPU), and runs never change it.
    Keyed by the provider too, which is rebuilt when the provider settings change."""
    return RunConfig(
        model=model,
        model_provider=provider,
        # The SDK asks Chat Completions servers for stream usage only when they are
        # api.openai.com; compatible servers (vLLM, Ollama, LiteLLM) report it too.
        model_settings=ModelSettings(include_usage=True),
        workflow_name=f"agentsite:{agent}",
    )
