"""Real agentsite server processes for slow tests: a fresh database, migrate, a server.

Every test gets its own database so server processes never see another test's rows: a SQLite
file in the test's temporary directory, or — when the test run itself is on PostgreSQL — a
PostgreSQL database with a unique name, created and dropped here. Servers run the production
command (``manage.py serve``; ``TEST_SERVER`` or ``server=`` picks another) on a free port with
their output in a log file; whatever happens, they are
killed at the end and their logs are printed, which pytest shows only when the test failed.

Use the context managers from a fixture::

    @pytest.fixture
    def servers(tmp_path):
        with fresh_database(tmp_path) as database_url, ServerPool(tmp_path, database_url) as pool:
            yield pool

Multi-process tests need PostgreSQL and Redis whatever the test run itself uses:
``fresh_postgresql_database()`` makes the database on the local server, and
``reserved_redis_database(n)`` hands out one Redis database number, flushed before and after.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_SECRET_KEY = "agentsite-test-servers-only-" + "k" * 40
PYTHON = sys.executable
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# The services `scripts/services.sh` starts for the suite (see the Makefile).
LOCAL_POSTGRESQL = {"HOST": "127.0.0.1", "PORT": 5432, "USER": "postgres", "PASSWORD": ""}
LOCAL_REDIS = "redis://127.0.0.1:6379"
# Redis database numbers reserved for test modules: each flushes its own at start and end, so
# they must never share one (two concurrent test runs on one Redis still collide).
REDIS_DB_MULTIPROCESS = 11
REDIS_DB_EVENTLOG = 12


def server_environment(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a server process: this one's, pinned to the offline model."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "agentsite.settings",
            # Servers refuse the development key with DEBUG off, as in production.
            "SECRET_KEY": TEST_SECRET_KEY,
            "MODEL_PROVIDER": "offline",
            "OPENAI_API_KEY": "",
            "OFFLINE_MODEL_DELAY": "0",
            "RESEARCH_OFFLINE_STEP_DELAY": "0",
            "REDIS_URL": "",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


def run_manage(
    database_url: str, *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``manage.py <args>`` in a subprocess against ``database_url``, as an operator runs it."""
    return subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=REPO_ROOT,
        env=server_environment(database_url),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def migrate(database_url: str) -> None:
    """``manage.py migrate`` in a subprocess, as a deployment would run it."""
    completed = run_manage(database_url, "migrate", "--noinput", timeout=120)
    if completed.returncode != 0:
        raise RuntimeError(
            f"migrate failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
        )


@contextmanager
def fresh_database(directory: Path) -> Iterator[str]:
    """The URL of a new, migrated database used by nothing else; dropped afterwards."""
    test_database = _test_database_settings()
    if "postgresql" in test_database.get("ENGINE", ""):
        with _postgresql_database(test_database) as url:
            migrate(url)
            yield url
    else:
        url = f"sqlite:///{directory / 'server.sqlite3'}"
        migrate(url)
        yield url


@contextmanager
def fresh_postgresql_database(
    server: dict[str, Any] | None = None,
) -> Iterator[str]:
    """A new, migrated database on a PostgreSQL server (the local one by default), whatever
    database the test run itself uses: several processes can only share a real server."""
    with _postgresql_database(server or LOCAL_POSTGRESQL) as url:
        migrate(url)
        yield url


@contextmanager
def reserved_redis_database(number: int, base_url: str = LOCAL_REDIS) -> Iterator[str]:
    """The URL of Redis database ``number``, emptied before and after use.

    An unreachable Redis is an error, never a skip: CI starts it (`scripts/services.sh redis`),
    and a silently skipped test would hide a broken multi-process setup.
    """
    import redis

    url = f"{base_url}/{number}"
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        try:
            client.ping()
        except redis.ConnectionError as exc:
            raise RuntimeError(
                f"Redis is not reachable at {url} ({exc}); start it with "
                "`bash scripts/services.sh redis`"
            ) from exc
        client.flushdb()
        try:
            yield url
        finally:
            client.flushdb()
    finally:
        client.close()


def _test_database_settings() -> dict[str, Any]:
    """The test run's own database settings: the server's database goes on the same server."""
    from django.conf import settings

    return dict(settings.DATABASES["default"])


@contextmanager
def _postgresql_database(test_database: dict[str, Any]) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    name = f"agentsite_server_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    params = {
        "host": test_database.get("HOST") or None,
        "port": test_database.get("PORT") or None,
        "user": test_database.get("USER") or None,
        "password": test_database.get("PASSWORD") or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    with psycopg.connect(**params) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _postgresql_url(test_database, name)
    finally:
        with psycopg.connect(**params) as admin:
            # FORCE: a server killed mid-test may leave a backend that has not noticed yet.
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _postgresql_url(test_database: dict[str, Any], name: str) -> str:
    user = quote(str(test_database.get("USER") or ""), safe="")
    password = quote(str(test_database.get("PASSWORD") or ""), safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = test_database.get("HOST") or "localhost"
    port = f":{test_database['PORT']}" if test_database.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{name}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The servers a test can start agentsite under: "serve" is the production command
# (`manage.py serve`: uvicorn with uvloop + httptools), "daphne" the development one (`make run`).
# TEST_SERVER picks the default for the whole run — to run the slow suite under another server
# (the README's server comparison): TEST_SERVER=daphne .venv/bin/pytest -m slow …
SERVERS = ("serve", "daphne", "uvicorn", "granian")
# Exit statuses of a server that stopped by itself on SIGTERM (see ServerProcess.stops_cleanly).
CLEAN_EXITS = (0, -signal.SIGTERM)
DEFAULT_SERVER = os.environ.get("TEST_SERVER", "serve")


class ServerProcess:
    """One server process serving ``application`` on 127.0.0.1: ``manage.py serve`` (the
    production server), daphne, uvicorn or granian (see ``SERVERS``).

    ``backlog`` sets the listen queue. Under daphne it listens through the ``-e
    tcp:…:backlog=N`` endpoint instead of ``-b/-p``, whose listen queue is Twisted's default of
    50 pending connections (the benchmarks compare both); ``serve`` defaults to LISTEN_BACKLOG.
    """

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        log_path: Path,
        backlog: int | None = None,
        application: str = "agentsite.asgi:application",
        server: str = DEFAULT_SERVER,
        root: Path = REPO_ROOT,
    ) -> None:
        if server not in SERVERS:
            raise ValueError(f"server must be one of {SERVERS}, not {server!r}")
        if server == "serve" and application != "agentsite.asgi:application":
            raise ValueError("manage.py serve serves agentsite only")
        self.name = name
        self.server = server
        self.application = application
        self.env = env
        self.log_path = log_path
        self.backlog = backlog
        # The tree whose manage.py (and code) it runs: another version for bench/versions.py.
        self.root = root
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, timeout: float = 30) -> httpx.Client:
        """An HTTP client for this server that ignores any proxy set in the environment."""
        return httpx.Client(base_url=self.url, timeout=timeout, trust_env=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        """The command line that starts the server on ``self.port``."""
        backlog = [] if self.backlog is None else ["--backlog", str(self.backlog)]
        address = ["--host", "127.0.0.1", "--port", str(self.port)]
        if self.server == "serve":
            return [PYTHON, "manage.py", "serve", *address, *backlog]
        if self.server == "uvicorn":
            # As `manage.py serve` runs it: uvloop, httptools, logging at the process's level.
            options = ["--loop", "uvloop", "--http", "httptools", "--lifespan", "off"]
            level = ["--log-level", self.env.get("LOG_LEVEL", "INFO").lower()]
            return [PYTHON, "-m", "uvicorn", *options, *level, *address, *backlog, self.application]
        if self.server == "granian":
            return [
                PYTHON,
                "-m",
                "granian",
                "--interface",
                "asgi",
                "--loop",
                "uvloop",
                *address,
                *backlog,
                self.application,
            ]
        if self.backlog is None:
            listen = ["-b", "127.0.0.1", "-p", str(self.port)]
        else:
            listen = ["-e", f"tcp:port={self.port}:interface=127.0.0.1:backlog={self.backlog}"]
        return [PYTHON, "-m", "daphne", *listen, self.application]

    def start(self, timeout: float = START_TIMEOUT) -> ServerProcess:
        """Start the server on a free port and wait until ``/health`` answers 200."""
        self.port = free_port()
        command = self.command()
        with self.log_path.open("ab") as log:
            log.write(f"--- {self.name}: {' '.join(command[1:])}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                cwd=self.root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_healthy(timeout)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.name} exited before answering:\n{self.log()}")
            try:
                with self.client(timeout=1) as http:
                    if http.get("/health").status_code == 200:
                        return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.name} did not answer /health in {timeout} s:\n{self.log()}")

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, as a process manager stops a server; SIGKILL if it does not exit in time."""
        return self._stop(signal.SIGTERM, timeout)

    def stops_cleanly(self, timeout: float = STOP_TIMEOUT) -> bool:
        """SIGTERM; True if the server shut down by itself in time, without a traceback.

        daphne then exits 0; uvicorn (``manage.py serve``) finishes its graceful shutdown and
        re-raises the SIGTERM it caught, so its status says which signal ended it (-15), as
        process managers (systemd) count a clean stop. A server killed after the timeout
        ends with SIGKILL's -9."""
        return self.terminate(timeout) in CLEAN_EXITS and "Traceback" not in self.log()

    def kill(self) -> int:
        """SIGKILL: the process dies at once, with no chance to clean anything up."""
        return self._stop(signal.SIGKILL, STOP_TIMEOUT)

    def _stop(self, signum: signal.Signals, timeout: float) -> int:
        """SIGTERM goes to the server, which stops its workers itself; SIGKILL to its whole
        process group (it was started in a session of its own), so a server that serves from
        worker processes (granian, uvicorn ``--workers``) dies whole, as in a crash."""
        assert self.process is not None, f"{self.name} was never started"
        if self.process.poll() is None:
            self._signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)
        if signum == signal.SIGKILL:
            self._signal(signal.SIGKILL)  # workers a dead server left behind
        return self.process.returncode

    def _signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        if signum != signal.SIGKILL:
            self.process.send_signal(signum)
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class ServerPool:
    """Starts server processes on one database and guarantees they are all gone at exit."""

    def __init__(self, directory: Path, database_url: str) -> None:
        self.directory = directory
        self.database_url = database_url
        self.servers: list[ServerProcess] = []

    def start(self, *, server: str = DEFAULT_SERVER, **env: str) -> ServerProcess:
        """A new server (one of ``SERVERS``; the production one by default) on the pool's
        database; ``env`` overrides settings variables."""
        name = f"server-{len(self.servers) + 1}"
        process = ServerProcess(
            name,
            server_environment(self.database_url, **env),
            self.directory / f"{name}.log",
            server=server,
        )
        self.servers.append(process)
        return process.start()

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for server in self.servers:
            if server.process is not None and server.running:
                server.kill()
        # Printed output is shown by pytest only for a failing test: the logs explain it.
        for server in self.servers:
            print(f"\n===== {server.name} log ({server.log_path}) =====\n{server.log()}")


@dataclass
class ServerPair:
    """Two server processes on one PostgreSQL database and one Redis database: the smallest
    multi-process deployment."""

    a: ServerProcess
    b: ServerProcess
    database_url: str
    redis_url: str

    def assert_no_tracebacks(self) -> None:
        for server in (self.a, self.b):
            log = server.log()
            assert "Traceback" not in log, f"{server.name}:\n{log}"


@contextmanager
def server_pair(
    directory: Path,
    redis_database: int,
    a: dict[str, str] | None = None,
    b: dict[str, str] | None = None,
    prepare: Callable[[str], None] | None = None,
) -> Iterator[ServerPair]:
    """A and B (``a`` and ``b``: their settings variables) on a fresh PostgreSQL database,
    after ``prepare(database_url)``, sharing Redis database ``redis_database``; at the end
    neither may have logged a traceback, and both must stop cleanly."""
    with (
        fresh_postgresql_database() as database_url,
        reserved_redis_database(redis_database) as redis_url,
        ServerPool(directory, database_url) as pool,
    ):
        if prepare is not None:
            prepare(database_url)
        pair = ServerPair(
            pool.start(REDIS_URL=redis_url, **(a or {})),
            pool.start(REDIS_URL=redis_url, **(b or {})),
            database_url,
            redis_url,
        )
        yield pair
        pair.assert_no_tracebacks()
        for server in (pair.a, pair.b):
            assert server.stops_cleanly(), f"{server.name} did not stop cleanly"
