"""Pure functions for the tool-worker tests: importable by reference in a worker process."""

from __future__ import annotations

import os
import time
from pathlib import Path

HANG_GUARD_SECONDS = 60.0


def spin(pid_file: str) -> str:
    """Write this process's pid, then compute forever (until killed)."""
    Path(pid_file).write_text(str(os.getpid()))
    while True:
        pass


def hold_until(release_file: str, pid_file: str) -> str:
    """Write this process's pid, then keep computing until ``release_file`` exists (or a
    minute has passed, so a test that never releases it still ends)."""
    Path(pid_file).write_text(str(os.getpid()))
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while not Path(release_file).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    return "released" if Path(release_file).exists() else "gave up"


def allocate(megabytes: int) -> int:
    """Try to hold ``megabytes`` of memory at once."""
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)


def fail(message: str) -> None:
    raise ValueError(message)


def add(a: int, b: int) -> int:
    return a + b


def hold_in(directory: str) -> str:
    """``hold_until`` with its files in ``directory`` (one text argument, like the calculator's
    expression); writes ``done`` when it returns."""
    folder = Path(directory)
    outcome = hold_until(str(folder / "release"), str(folder / "pid"))
    (folder / "done").write_text(outcome)
    return outcome
