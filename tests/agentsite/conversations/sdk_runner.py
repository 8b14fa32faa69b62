"""The SDK tests' way of running an agent three ways (tests/memory/test_session.py,
``run_agent_async``): ``Runner.run``, ``Runner.run_sync`` on a thread with its own event loop,
and ``Runner.run_streamed`` consumed to the end."""

from __future__ import annotations

import asyncio
from typing import Any

from agents import Agent, Runner

RUNNER_METHODS = ["run", "run_sync", "run_streamed"]


def _run_sync(agent: Agent[Any], input_data: Any, **kwargs: Any) -> Any:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return Runner.run_sync(agent, input_data, **kwargs)
    finally:
        loop.close()
        asyncio.set_event_loop(None)


async def run_agent(runner_method: str, agent: Agent[Any], input_data: Any, **kwargs: Any) -> Any:
    if runner_method == "run":
        return await Runner.run(agent, input_data, **kwargs)
    if runner_method == "run_sync":
        return await asyncio.to_thread(_run_sync, agent, input_data, **kwargs)
    if runner_method == "run_streamed":
        result = Runner.run_streamed(agent, input_data, **kwargs)
        async for _event in result.stream_events():
            pass
        return result
    raise ValueError(f"unknown runner method: {runner_method}")
