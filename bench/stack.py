"""The servers under test: agentsite (a fresh database, ``migrate``, one ``manage.py serve``
process with the OpenAI provider pointed at the bench upstream) and the reference FastAPI
service (bench/reference.py under uvicorn).

Built from tests/support/server.py, so the benchmark starts the servers exactly as the slow
tests do (output in a log file, killed at the end whatever happens).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql

from tests.support.server import (
    LOCAL_POSTGRESQL,
    REPO_ROOT,
    ServerProcess,
    _postgresql_url,
    migrate,
    server_environment,
)

Database = Literal["sqlite", "postgresql"]


class MigratedTemplates:
    """One migrated database per kind for the whole bench run; every fresh database is a copy
    of it (a file copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL), so
    ``migrate`` — seconds of imports each time — runs twice per bench run, not once per server.
    """

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="agentsite-bench-templates-"))
        self.sqlite: Path | None = None
        self.postgresql: str | None = None
        self.count = 0

    def sqlite_copy(self, directory: Path) -> str:
        if self.sqlite is None:
            self.sqlite = self.directory / "template.sqlite3"
            migrate(f"sqlite:///{self.sqlite}")
        directory.mkdir(parents=True, exist_ok=True)
        self.count += 1
        path = directory / f"bench-{self.count}.sqlite3"
        shutil.copyfile(self.sqlite, path)
        return f"sqlite:///{path}"

    def postgresql_copy(self) -> str:
        if self.postgresql is None:
            self.postgresql = new_database_name("template")
            _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.postgresql)))
            migrate(_postgresql_url(LOCAL_POSTGRESQL, self.postgresql))
        name = new_database_name("copy")
        _admin(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(self.postgresql)
            )
        )
        return name

    def close(self) -> None:
        if self.postgresql is not None:
            drop_postgresql_database(self.postgresql)
            self.postgresql = None
        shutil.rmtree(self.directory, ignore_errors=True)


def new_database_name(kind: str) -> str:
    """A PostgreSQL database name no other run (or a killed one's leftover) has taken."""
    return f"agentsite_bench_{kind}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


TEMPLATES = MigratedTemplates()


@contextlib.contextmanager
def fresh_database_url(kind: Database, directory: Path) -> Iterator[str]:
    """A new, migrated database: a SQLite file in ``directory``, or a uniquely named
    PostgreSQL database on the local server (dropped afterwards); copies of ``TEMPLATES``."""
    if kind == "sqlite":
        yield TEMPLATES.sqlite_copy(directory)
        return
    name = TEMPLATES.postgresql_copy()
    try:
        yield _postgresql_url(LOCAL_POSTGRESQL, name)
    finally:
        drop_postgresql_database(name)


def drop_postgresql_database(name: str) -> None:
    # FORCE: a killed server may leave a backend that has not noticed yet.
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _admin(statement: sql.Composed) -> None:
    with psycopg.connect(
        host=LOCAL_POSTGRESQL["HOST"],
        port=LOCAL_POSTGRESQL["PORT"],
        user=LOCAL_POSTGRESQL["USER"],
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(statement)


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
    server: str = "serve",
    **overrides: str,
) -> Iterator[ServerProcess]:
    """agentsite under ``server`` (the production command by default) on a fresh ``kind``
    database; killed at exit whatever happens."""
    directory.mkdir(parents=True, exist_ok=True)
    with (
        fresh_database_url(kind, directory) as database_url,
        running_agentsite(
            f"{server}-{kind}",
            database_url,
            directory,
            upstream_base_url,
            backlog=backlog,
            server=server,
            **overrides,
        ) as process,
    ):
        yield process


@contextlib.contextmanager
def running_agentsite(
    name: str,
    database_url: str,
    directory: Path,
    upstream_base_url: str,
    backlog: int | None = None,
    server: str = "serve",
    root: Path = REPO_ROOT,
    **overrides: str,
) -> Iterator[ServerProcess]:
    """agentsite (the tree at ``root``) under ``server`` on ``database_url`` (several may share
    one), its log in ``directory/name.log``; killed at exit whatever happens."""
    directory.mkdir(parents=True, exist_ok=True)
    process = ServerProcess(
        name,
        bench_environment(database_url, upstream_base_url, **overrides),
        directory / f"{name}.log",
        backlog,
        server=server,
        root=root,
    )
    with _serving(process):
        yield process


@contextlib.contextmanager
def running_reference(directory: Path, upstream_base_url: str) -> Iterator[ServerProcess]:
    """The FastAPI reference (bench/reference.py) under uvicorn with uvloop and httptools, its
    SDK sessions in one SQLite file; logging as quiet as agentsite's in the bench."""
    directory.mkdir(parents=True, exist_ok=True)
    env = server_environment(
        "sqlite:///unused",
        OPENAI_API_KEY="sk-bench",
        LOG_LEVEL="WARNING",
        BENCH_UPSTREAM=upstream_base_url,
        BENCH_SESSION_FILE=str(directory / "reference-sessions.sqlite3"),
    )
    server = ServerProcess(
        "reference",
        env,
        directory / "reference.log",
        application="bench.reference:app",
        server="uvicorn",
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


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants: a server that serves from worker processes (uvicorn with
    ``--workers``, granian always) is measured whole."""
    pids = [pid]
    for current in pids:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            pids.extend(int(child) for child in children)
    return pids


def serving_pid(pid: int) -> int:
    """The process that runs the application: the last descendant of a server that hands work
    to a worker process, else the server itself (for py-spy)."""
    return process_tree(pid)[-1]


def peak_rss_bytes(pid: int) -> int:
    """VmHWM (peak resident set size) of a live server, its worker processes added, from /proc."""
    return sum(_status_kib(each, "VmHWM") * 1024 for each in process_tree(pid))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a server (its workers included) has used so far, from /proc."""
    import os

    total = 0
    for each in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def current_rss_bytes(pid: int) -> int:
    return _status_kib(pid, "VmRSS") * 1024


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(f"{key} not in /proc/{pid}/status")
