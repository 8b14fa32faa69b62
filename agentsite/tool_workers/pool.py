"""Run CPU-bound tool functions in worker processes with a time and a memory limit.

The rule for every tool: bounded time, bounded memory, a clear error. A pure-Python
computation run inline holds the event loop (and one big C call holds the GIL) for as long as it
takes: every other request of the process waits. ``run_bounded`` hands the function to a child
process instead and awaits its answer without blocking; past the time limit the child is killed
(SIGKILL, then reaped) and the caller gets ``ToolLimitExceeded``, whose text the tool returns to
the model.

Workers are plain ``python -m agentsite.tool_workers`` children over asyncio pipes (one JSON
line each way), not ``multiprocessing``: asyncio awaits their output and their exit without a
thread, and a child started this way re-imports nothing of the server (no ``__main__``, no
Django, no API key: it gets an empty environment). Each child caps its own address space
(RLIMIT_AS) when it starts and its CPU time (RLIMIT_CPU, a backstop to the wall-clock kill)
before each call. Idle workers are kept warm (``TOOL_WORKERS`` at most), since starting one
costs tens of milliseconds and a call on a warm one well under one; at most ``TOOL_WORKERS``
calls run at once, and a call waits at most its own time limit for a free worker, so nothing
queues behind a stuck computation for longer than the limit that will kill it.

The function runs by reference (``module:qualname``), with JSON arguments and a JSON result:
only importable, pure functions of plain data qualify.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentsite.tool_workers.process import MAX_RESULT_BYTES, resolve

START_SECONDS = 30.0
PROJECT_DIR = Path(__file__).resolve().parents[2]


class ToolLimitExceeded(Exception):
    """The computation was stopped or refused by a limit; the message says which, plainly."""


class ToolFailed(Exception):
    """The function raised something other than ``ValueError``/``ArithmeticError``."""


async def run_bounded(
    func: Callable[..., Any],
    *args: Any,
    time_limit: float | None = None,
    memory_bytes: int | None = None,
) -> Any:
    """``func(*args)`` in a worker process; its result, or the error it raised.

    ``ValueError`` and ``ArithmeticError`` raised by ``func`` come back as ``ValueError`` with
    the same message; a time limit hit (the worker is killed), memory exhausted or no worker
    free within the time limit raise ``ToolLimitExceeded``. Defaults: ``TOOL_TIMEOUT_SECONDS``,
    ``TOOL_MEMORY_BYTES``.
    """
    from django.conf import settings

    timeout = settings.TOOL_TIMEOUT_SECONDS if time_limit is None else time_limit
    memory_bytes = settings.TOOL_MEMORY_BYTES if memory_bytes is None else memory_bytes
    target = _reference(func)
    request = json.dumps({"target": target, "args": list(args), "cpu_seconds": timeout})
    pool = _pool()
    try:
        async with asyncio.timeout(timeout):
            await pool.slots.acquire()
    except TimeoutError:
        raise ToolLimitExceeded(
            "too many computations are running at once; try again in a moment"
        ) from None
    try:
        worker = await pool.take(memory_bytes)
        try:
            async with asyncio.timeout(timeout):
                reply = await worker.call(request)
        except TimeoutError:
            await worker.kill()
            raise ToolLimitExceeded(
                f"the computation took too long (limit {timeout:g} s) and was stopped"
            ) from None
        except BaseException:
            # Cancelled (the run was) or the pipe broke: the worker's state is unknown.
            worker.kill_soon()
            raise
        if reply is not None and reply.get("kind") not in ("MemoryError", "ResultTooLarge"):
            pool.give_back(worker)
        else:  # it may be in no state to serve another call
            worker.kill_soon()
    finally:
        pool.slots.release()
    return _outcome(reply)


def _outcome(reply: dict[str, Any] | None) -> Any:
    if reply is None:
        raise ToolLimitExceeded(
            "the computation was stopped: it exceeded the worker's CPU or memory limit"
        )
    if "result" in reply:
        return reply["result"]
    kind, message = reply.get("kind"), str(reply.get("message", ""))
    if kind == "MemoryError":
        raise ToolLimitExceeded("the computation needed too much memory and was stopped")
    if kind == "ResultTooLarge":
        raise ToolLimitExceeded(message)
    if kind in ("ValueError", "ArithmeticError"):
        raise ValueError(message)
    raise ToolFailed(f"the tool failed: {kind}: {message}")


def _reference(func: Callable[..., Any]) -> str:
    module, name = getattr(func, "__module__", None), getattr(func, "__qualname__", "")
    if not module or "<" in name or resolve(f"{module}:{name}") is not func:
        raise TypeError(f"{func!r} is not an importable module-level function")
    return f"{module}:{name}"


# --- the parent's side ----------------------------------------------------------------------


class Worker:
    """One child process, answering one request line with one reply line at a time."""

    def __init__(self, process: asyncio.subprocess.Process, memory_bytes: int) -> None:
        self.process = process
        self.memory_bytes = memory_bytes

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    async def start(cls, memory_bytes: int) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "agentsite.tool_workers",
            str(memory_bytes),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=PROJECT_DIR,
            env={},
            limit=MAX_RESULT_BYTES + 1024,
        )
        worker = cls(process, memory_bytes)
        try:
            async with asyncio.timeout(START_SECONDS):
                ready = await worker._read()
        except BaseException:
            worker.kill_soon()
            raise
        if ready != {"ready": True}:
            await worker.kill()
            raise ToolLimitExceeded("the tool worker could not start")
        return worker

    async def call(self, request: str) -> dict[str, Any] | None:
        """The reply, or None when the child died (a CPU or memory limit killed it)."""
        assert self.process.stdin is not None
        self.process.stdin.write(request.encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await self.process.stdin.drain()
        return await self._read()

    async def _read(self) -> dict[str, Any] | None:
        assert self.process.stdout is not None
        try:
            line = await self.process.stdout.readline()
        except ValueError:  # longer than the stream's limit
            await self.kill()
            return {"kind": "ResultTooLarge", "message": "the result is too large"}
        if not line:
            await self.kill()
            return None
        reply: dict[str, Any] = json.loads(line)
        return reply

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def kill(self) -> None:
        """Kill the child and reap it, so no process or pipe is left behind."""
        self._signal()
        await self.process.wait()

    def kill_soon(self) -> None:
        """``kill`` for a caller that cannot wait (it is being cancelled)."""
        self._signal()
        reaping = asyncio.ensure_future(self.process.wait())
        _reaping.add(reaping)
        reaping.add_done_callback(_reaping.discard)

    def _signal(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()


_reaping: set[asyncio.Future[int]] = set()


class WorkerPool:
    """The warm workers and the call slots of one event loop (subprocess pipes belong to the
    loop that made them)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.slots = asyncio.Semaphore(size)
        self.idle: list[Worker] = []

    async def take(self, memory_bytes: int) -> Worker:
        while self.idle:
            worker = self.idle.pop()
            if worker.alive and worker.memory_bytes == memory_bytes:
                return worker
            worker.kill_soon()
        return await Worker.start(memory_bytes)

    def give_back(self, worker: Worker) -> None:
        if worker.alive and len(self.idle) < self.size:
            self.idle.append(worker)
        else:
            worker.kill_soon()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WorkerPool] = (
    weakref.WeakKeyDictionary()
)


def _pool() -> WorkerPool:
    from django.conf import settings

    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = WorkerPool(max(1, settings.TOOL_WORKERS))
    return pool
