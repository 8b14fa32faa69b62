"""``run_bounded``: a tool function in a worker process, with a time and a memory limit."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from agentsite.tool_workers.pool import ToolLimitExceeded, run_bounded
from tests.support import slow_tools


def exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def written_pid(pid_file: Path) -> int | None:
    text = pid_file.read_text() if pid_file.exists() else ""
    return int(text) if text else None


async def read_pid(pid_file: Path) -> int:
    async with asyncio.timeout(30):
        while (pid := written_pid(pid_file)) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    return pid


async def test_result_and_errors_come_back():
    assert await run_bounded(slow_tools.add, 2, 40) == 42
    with pytest.raises(ValueError, match=r"^bad input$"):
        await run_bounded(slow_tools.fail, "bad input")


async def test_a_computation_past_its_time_limit_is_killed(tmp_path):
    pid_file = tmp_path / "pid"
    with pytest.raises(ToolLimitExceeded, match=r"took too long \(limit 0.5 s\) and was stopped"):
        await run_bounded(slow_tools.spin, str(pid_file), time_limit=0.5)
    assert not exists(int(pid_file.read_text())), "the worker was killed and reaped"
    # The next call gets a fresh worker.
    assert await run_bounded(slow_tools.add, 1, 1) == 2


async def test_memory_is_bounded():
    with pytest.raises(ToolLimitExceeded, match="too much memory"):
        await run_bounded(slow_tools.allocate, 1024, memory_bytes=256 * 1024 * 1024)
    assert await run_bounded(slow_tools.add, 1, 1) == 2


async def test_a_cancelled_call_kills_its_worker(tmp_path):
    pid_file = tmp_path / "pid"
    call = asyncio.ensure_future(run_bounded(slow_tools.spin, str(pid_file), time_limit=60))
    pid = await read_pid(pid_file)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    async with asyncio.timeout(30):
        while exists(pid):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_calls_do_not_queue_behind_a_stuck_one_for_ever(settings, tmp_path):
    """With one worker slot, a stuck computation holds it only until its limit kills it; the
    call waiting behind it then runs."""
    settings.TOOL_WORKERS = 1
    pid_file = tmp_path / "pid"
    stuck = asyncio.ensure_future(run_bounded(slow_tools.spin, str(pid_file), time_limit=1))
    await read_pid(pid_file)
    assert await run_bounded(slow_tools.add, 20, 22, time_limit=30) == 42
    with pytest.raises(ToolLimitExceeded, match="took too long"):
        await stuck
