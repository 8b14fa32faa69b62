"""What a run executes: the "body" the run driver iterates once.

The driver (``agentsite.runs.driver``) owns everything around a run — the ledger row, the event
log, leases, cancel requests from any process, the last event and its bookkeeping — and knows
nothing of what produces the events. A ``RunWork`` is that producer: wire events, the usage they
cost, and how to stop. An agent's ``Runner.run_streamed`` loop (``agentsite.runs.agent_work``)
is one implementation; a pipeline of several agent calls (the research app's manager) is
another, written as a ``PipelineWork``.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from agents import RunHooks
from agents.usage import Usage

from agentsite.runs.events import WireEvent

if TYPE_CHECKING:
    from agentsite.runs.pauses import Pause

_END = object()


class RunWork(ABC):
    """One run's work. The driver iterates ``events()`` once; then it builds the run's last event
    from ``completed()``, from ``cancelled()`` when ``cancel`` was called, or from the error
    ``events()`` raised — each with ``terminal_keys()`` added. Work that stops to wait for a
    person (an agent's tool calls that need approval) sets ``pause`` before its events end: the
    run is then stored as awaiting approval instead of ending (``agentsite.runs.approvals``)."""

    pause: Pause | None = None
    # SDK run hooks the work passes to its ``Runner`` calls: the token meter of the quotas
    # (``agentsite.governance.quotas``), set before the work starts.
    hooks: RunHooks[Any] | None = None
    # Whether a model response that calls no tool ends the work (an agent's loop), or more
    # model calls may follow it (a pipeline's next step): what a budget stop waits for.
    ends_with_a_final_response = True

    @property
    @abstractmethod
    def usage(self) -> Usage:
        """Tokens spent so far: the ledger records them however the run ends."""

    @abstractmethod
    def events(self) -> AsyncIterator[WireEvent]:
        """The run's events, without its last one (``stream_complete``, ``error`` or
        ``run_cancelled`` come from the driver). Ends early once ``cancel`` has been called."""

    @abstractmethod
    def cancel(self, mode: str) -> None:
        """Stop: ``immediate``, or ``after_turn`` where the work has turns. May come before
        ``events()`` has started, and from another task (a cancel request)."""

    @abstractmethod
    def completed(self) -> WireEvent:
        """The ``stream_complete`` event of a run that ran to its end."""

    async def cancelled(self) -> dict[str, Any]:
        """Keys for the ``run_cancelled`` event (``partial_output``, ``final_output``, …), after
        keeping what the client already saw."""
        return {}

    def terminal_keys(self) -> dict[str, Any]:
        """Keys every last event of the run carries (``error`` and ``run_cancelled`` too)."""
        return {}


class PipelineWork(RunWork):
    """Work written as one async generator, ``steps()``: a pipeline of agent calls.

    A cancel cancels the task that runs the steps, so the pipeline sees ``CancelledError`` at
    whatever it awaits (and may record its progress before it lets go); ``after_turn`` stops it
    the same way, since a pipeline has no turn of its own to finish.
    """

    ends_with_a_final_response = False

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._cancel_requested = False

    @abstractmethod
    def steps(self) -> AsyncIterator[WireEvent]:
        """The pipeline's events; an exception fails the run."""

    async def events(self) -> AsyncIterator[WireEvent]:
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def pump() -> None:
            async with contextlib.aclosing(self.steps()) as steps:  # type: ignore[type-var]
                async for event in steps:
                    queue.put_nowait(event)

        task = self._task = asyncio.create_task(pump())
        # A done callback, not a ``finally`` in ``pump``: a task cancelled before its first step
        # never runs its coroutine at all.
        task.add_done_callback(lambda _: queue.put_nowait(_END))
        if self._cancel_requested:
            task.cancel()
        try:
            while (event := await queue.get()) is not _END:
                yield event
            await asyncio.gather(task, return_exceptions=True)
            if not task.cancelled():
                task.result()  # the pipeline's error, if it failed
            elif not self._cancel_requested:
                raise asyncio.CancelledError()
        finally:
            if not task.done():  # the driver stopped reading: the server is stopping the run
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def cancel(self, mode: str) -> None:
        self._cancel_requested = True
        if self._task is not None:
            self._task.cancel()
