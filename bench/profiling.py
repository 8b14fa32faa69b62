"""py-spy over the daphne process during a throughput run, summarised into "what costs".

py-spy samples another process's Python stacks from outside (ptrace), so the server runs
unmodified. We record in ``raw`` (collapsed-stack) format and fold it two ways:

- *self* time per function: where the CPU actually is (JSON encoding, SQL compilation, …);
- *inclusive* time per area: a sample counts for an area (Django ORM, the SDK, agentsite's own
  modules, daphne/Twisted, asyncio, logging, json, …) if any frame of its stack is in it, which
  answers "how much of the server's time goes to the ORM".

Only samples of the thread holding the GIL are taken (``--gil``), so percentages are of the
Python CPU time of the daphne process, all threads together (the ORM runs in asgiref's thread):
on a GIL-bound server that is the budget everything shares.
"""

from __future__ import annotations

import collections
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)\)$")
# Areas for inclusive time, matched against the start of a frame's file path as py-spy prints
# it (relative to site-packages or the repository: "agentsite/runs/driver.py", "django/db/…").
AREAS: dict[str, tuple[str, ...]] = {
    "agentsite + chat (own code)": ("agentsite/", "chat/"),
    "agentsite.conversations.session": ("agentsite/conversations/session.py",),
    "agentsite.runs.driver": ("agentsite/runs/driver.py",),
    "agentsite.runs.eventlog": ("agentsite/runs/eventlog.py",),
    "agentsite.runs.service": ("agentsite/runs/service.py",),
    "agentsite.conversations.leases": ("agentsite/conversations/leases.py",),
    "agentsite.web.middleware": ("agentsite/web/middleware.py",),
    "agentsite.web.sse": ("agentsite/web/sse.py",),
    "agentsite.runs.events": ("agentsite/runs/events.py",),
    "agentsite.runs.hub": ("agentsite/runs/hub.py",),
    "Django ORM (django/db)": ("django/db/",),
    "Django request handling (django/core/handlers, http)": (
        "django/core/handlers",
        "django/http/",
    ),
    "Django signals": ("django/dispatch/",),
    "asgiref sync_to_async / thread hops": ("asgiref/",),
    "Agents SDK (agents/)": ("agents/",),
    "SDK tracing (agents/tracing)": ("agents/tracing/",),
    "openai client": ("openai/",),
    "openai SSE event parsing (construct_type/validate)": ("openai/_models.py",),
    "pydantic": ("pydantic/", "pydantic_core/"),
    "httpx/httpcore": ("httpx/", "httpcore/"),
    "daphne + Twisted": ("daphne/", "twisted/"),
    "asyncio": ("asyncio/",),
    "json": ("json/",),
    "logging": ("logging/",),
    "sqlite3 driver": ("sqlite3/",),
    "psycopg": ("psycopg/", "psycopg_binary/"),
}


@dataclass
class Profile:
    samples: int
    self_top: list[tuple[str, float]]
    areas: list[tuple[str, float]]
    own_code: list[tuple[str, float]]
    raw_path: Path


def available() -> str | None:
    """The py-spy executable next to this interpreter, or on PATH."""
    import sys

    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


class Recorder:
    """``py-spy record --format raw`` attached to ``pid`` until ``stop()``."""

    def __init__(self, pid: int, output: Path, rate: int = 250) -> None:
        executable = available()
        if executable is None:
            raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
        self.output = output
        self.log = output.with_suffix(".log")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    executable,
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    str(rate),
                    "--format",
                    "raw",
                    "--output",
                    str(output),
                    "--threads",
                    # Only samples of the thread holding the GIL: idle pool workers and threads
                    # blocked in C would otherwise count as "busy" (py-spy's idle heuristic
                    # misses waits in _queue.SimpleQueue.get).
                    "--gil",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        time.sleep(1.0)  # let it attach before the measured work starts
        if self.process.poll() is not None:
            raise RuntimeError(f"py-spy exited at once:\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def summarise(raw_path: Path, top: int = 25) -> Profile:
    """Fold a collapsed-stack file into self-time per function and inclusive time per area."""
    self_counts: collections.Counter[str] = collections.Counter()
    area_counts: collections.Counter[str] = collections.Counter()
    own_counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if frame]
        # With --threads the first frame names the thread; it is not code.
        if frames and frames[0].startswith("thread ("):
            frames = frames[1:]
        if not frames:
            continue
        total += count
        self_counts[_label(frames[-1])] += count
        files = [_parse(frame)[1] for frame in frames]
        for area, prefixes in AREAS.items():
            if any(path.startswith(prefixes) for path in files):
                area_counts[area] += count
        # The innermost agentsite/chat function on the stack: which of our own functions the
        # sample's cost (in the ORM, json, the SDK, …) is spent for.
        own = [frame for frame, path in zip(frames, files, strict=True) if _is_own(path)]
        own_counts[_label(own[-1], line_numbers=False) if own else "(no agentsite frame)"] += count
    if total == 0:
        return Profile(0, [], [], [], raw_path)
    return Profile(
        samples=total,
        self_top=[(label, 100 * n / total) for label, n in self_counts.most_common(top)],
        areas=sorted(
            ((area, 100 * n / total) for area, n in area_counts.items()),
            key=lambda pair: -pair[1],
        ),
        own_code=[(label, 100 * n / total) for label, n in own_counts.most_common(top)],
        raw_path=raw_path,
    )


def _parse(frame: str) -> tuple[str, str]:
    match = FRAME.match(frame.strip())
    if match is None:
        return frame, ""
    return match.group("function"), match.group("file")


def _is_own(path: str) -> bool:
    return path.startswith(("agentsite/", "chat/"))


def _label(frame: str, line_numbers: bool = False) -> str:
    function, path = _parse(frame)
    if not line_numbers:
        path = path.rsplit(":", 1)[0] if path.rsplit(":", 1)[-1].isdigit() else path
    short = re.sub(r".*/(site-packages|lib/python3\.\d+)/", "", path)
    short = re.sub(r".*/work/main/", "", short)
    return f"{function} ({short})"
