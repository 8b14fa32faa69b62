"""The inside of a tool worker process (``python -m agentsite.tool_workers MEMORY_BYTES``).

Started and fed by ``agentsite.tool_workers.pool``; it imports only the standard library (and then
the module of each function it is asked to run), so it starts in a few tens of milliseconds and
holds nothing of the server: no Django, no database connection, no credentials. Its limits:
RLIMIT_AS for its whole life, RLIMIT_CPU moved before each call.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import resource
import sys
from typing import Any

# A result line longer than this (the JSON of the answer) is refused: a tool's answer goes
# to a model, and an unbounded one would be read into the server's memory.
MAX_RESULT_BYTES = 64 * 1024


def resolve(target: str) -> Any:
    """The object a ``module:qualname`` reference names."""
    module, _, name = target.partition(":")
    value: Any = importlib.import_module(module)
    for part in name.split("."):
        value = getattr(value, part)
    return value


def serve(memory_bytes: int) -> None:
    """The worker's loop: one JSON request per stdin line, one JSON reply per stdout line,
    until stdin closes (the server went away)."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # nothing a function prints can corrupt the reply stream
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    replies.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        _limit_cpu(float(request["cpu_seconds"]))
        replies.write(_answer(request) + "\n")


def _answer(request: dict[str, Any]) -> str:
    try:
        result = resolve(request["target"])(*request["args"])
        reply = json.dumps({"result": result})
    except MemoryError:
        reply = json.dumps({"kind": "MemoryError", "message": "out of memory"})
    except Exception as exc:
        kind = "ArithmeticError" if isinstance(exc, ArithmeticError) else type(exc).__name__
        reply = json.dumps({"kind": kind, "message": str(exc)[:1000]})
    if len(reply) > MAX_RESULT_BYTES:
        reply = json.dumps({"kind": "ResultTooLarge", "message": "the result is too large"})
    return reply


def _limit_cpu(seconds: float) -> None:
    """Let this call use ``seconds`` more CPU (plus one): RLIMIT_CPU counts the process's
    whole life, so the soft limit moves with each call; the kernel sends SIGXCPU past it."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(used + seconds) + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
