"""``PipelineWork``: a pipeline's async generator, driven as a run's work — its events in order,
its error raised, and a cancel that stops it wherever it waits, however early it comes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from agents.usage import Usage

from agentsite.runs import PipelineWork

TIMEOUT = 5.0


class Steps(PipelineWork):
    """Yields ``count`` events, then waits on ``gate`` (if any), then fails if told to."""

    def __init__(self, count: int, gate: asyncio.Event | None = None, fail: bool = False) -> None:
        super().__init__()
        self.count, self.gate, self.fail = count, gate, fail
        self.started = False
        self.stopped_by: type[BaseException] | None = None

    @property
    def usage(self) -> Usage:
        return Usage()

    def completed(self) -> dict[str, Any]:
        return {"type": "stream_complete"}

    async def steps(self) -> AsyncIterator[dict[str, Any]]:
        self.started = True
        try:
            for number in range(1, self.count + 1):
                yield {"type": "step", "number": number}
            if self.gate is not None:
                await self.gate.wait()
            if self.fail:
                raise ValueError("the pipeline broke")
        except BaseException as exc:
            self.stopped_by = type(exc)
            raise


async def collect(work: PipelineWork) -> list[dict[str, Any]]:
    async with asyncio.timeout(TIMEOUT):
        return [event async for event in work.events()]


async def test_events_come_in_order_and_end_with_the_steps():
    assert [event["number"] for event in await collect(Steps(3))] == [1, 2, 3]


async def test_an_error_of_the_steps_is_raised_after_their_events():
    work = Steps(2, fail=True)
    seen = []
    with pytest.raises(ValueError, match="the pipeline broke"):
        async with asyncio.timeout(TIMEOUT):
            async for event in work.events():
                seen.append(event)
    assert len(seen) == 2


async def test_a_cancel_stops_the_steps_where_they_wait():
    work = Steps(2, gate=asyncio.Event())
    seen = []
    async with asyncio.timeout(TIMEOUT):
        async for event in work.events():
            seen.append(event)
            if len(seen) == 2:
                work.cancel("immediate")
    assert len(seen) == 2
    assert work.stopped_by is asyncio.CancelledError


async def test_a_cancel_before_the_first_step_ends_the_events_at_once():
    work = Steps(2)
    work.cancel("immediate")
    assert await collect(work) == []
    assert not work.started
