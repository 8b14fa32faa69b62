"""The full stack under test: a fresh database, ``migrate``, one daphne process serving agentsite
with the OpenAI provider pointed at the bench upstream.

Built from tests/support/server.py, so the benchmark starts the server exactly as the slow
tests do (``python -m daphne … agentsite.asgi:application``, output in a log file).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from tests.support.server import (
    ServerProcess,
    fresh_postgresql_database,
    migrate,
    server_environment,
)

Database = Literal["sqlite", "postgresql"]


@contextlib.contextmanager
def fresh_database_url(kind: Database, directory: Path) -> Iterator[str]:
    """A new, migrated database: a SQLite file in ``directory``, or a uniquely named
    PostgreSQL database on the local server (dropped afterwards)."""
    if kind == "postgresql":
        with fresh_postgresql_database() as url:
            yield url
    else:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"bench-{len(list(directory.glob('bench-*.sqlite3')))}.sqlite3"
        url = f"sqlite:///{path}"
        migrate(url)
        yield url


def bench_environment(
    database_url: str, upstream_base_url: str, **overrides: str
) -> dict[str, str]:
    """The server's settings: real OpenAI provider (Responses API) against the upstream, no
    retries (a failure must show), quiet logs (logging is not what we measure, but WARNING is
    what a production deployment would plausibly run), heartbeats out of the way."""
    return server_environment(
        database_url,
        MODEL_PROVIDER="openai",
        OPENAI_API_KEY="sk-bench",
        OPENAI_BASE_URL=upstream_base_url,
        OPENAI_API="responses",
        OPENAI_MAX_RETRIES="0",
        OPENAI_TIMEOUT="600",
        LOG_LEVEL="WARNING",
        SSE_HEARTBEAT_SECONDS="3600",
        **overrides,
    )


def listen_overflows() -> int:
    """The kernel's count of SYNs dropped because a listen queue was full (all sockets)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        if header.startswith("TcpExt:"):
            table = dict(zip(header.split()[1:], values.split()[1:], strict=True))
            return int(table.get("ListenOverflows", 0))
    return 0


@contextlib.contextmanager
def running_stack(
    kind: Database,
    directory: Path,
    upstream_base_url: str,
    backlog: int | None = None,
    **overrides: str,
) -> Iterator[ServerProcess]:
    """daphne on a fresh ``kind`` database; killed at exit whatever happens."""
    directory.mkdir(parents=True, exist_ok=True)
    with fresh_database_url(kind, directory) as database_url:
        server = ServerProcess(
            f"daphne-{kind}",
            bench_environment(database_url, upstream_base_url, **overrides),
            directory / f"daphne-{kind}.log",
            backlog,
        )
        with _serving(server):
            yield server


@contextlib.contextmanager
def running_floor(directory: Path, upstream_base_url: str) -> Iterator[ServerProcess]:
    """The bare ASGI app of bench/floor.py under the same daphne command."""
    directory.mkdir(parents=True, exist_ok=True)
    env = server_environment(
        "sqlite:///unused",
        OPENAI_API_KEY="sk-bench",
        BENCH_UPSTREAM=upstream_base_url,
        BENCH_SESSION_FILE=str(directory / "floor-session.sqlite3"),
    )
    server = ServerProcess(
        "floor", env, directory / "floor.log", application="bench.floor:application"
    )
    with _serving(server):
        yield server


@contextlib.contextmanager
def _serving(server: ServerProcess) -> Iterator[None]:
    """``server`` started (waiting for /health), killed at exit whatever happens."""
    try:
        server.start(timeout=60)
        yield
    finally:
        if server.process is not None and server.running:
            server.kill()


def peak_rss_bytes(pid: int) -> int:
    """VmHWM (peak resident set size) of a live process, from /proc."""
    return _status_kib(pid, "VmHWM") * 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (all threads), from /proc."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def current_rss_bytes(pid: int) -> int:
    return _status_kib(pid, "VmRSS") * 1024


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(f"{key} not in /proc/{pid}/status")
