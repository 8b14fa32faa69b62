"""``python -m bench.versions NAME=TREE[:SETTING=VALUE,...] ...`` — agentsite versions side by side.

How the README's before/after figures are taken. Each ``TREE`` is a copy of agentsite (a
checkout, or ``git archive <commit> | tar -x -C DIR``) served by its own ``manage.py serve`` on
a new database that its own migrations create, with the settings after the colon; beside them
the reference (bench/reference.py). Same upstream and client, 20 clients × 100 streams a round,
every server in turn, the order reversed every other round (``bench.comparison.alternate``).
Prints each server's streams/s, server CPU per stream, streams/s ÷ the reference's, and the
time to the first event and to the first text delta (p50 / p99).

    git archive HEAD~1 | (mkdir -p /tmp/before && tar -x -C /tmp/before)
    .venv/bin/python -m bench.versions before=/tmp/before after=. --rounds 10
    .venv/bin/python -m bench.versions one=.:DATABASE_THREADS=1 four=.:DATABASE_THREADS=4 \\
        --database postgresql
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from psycopg import sql

from bench import comparison
from bench.comparison import latency_figures
from bench.report import percentile
from bench.stack import (
    Database,
    _admin,
    bench_environment,
    drop_postgresql_database,
    new_database_name,
    running_agentsite,
    running_reference,
)
from bench.upstream import running_upstream
from tests.support.server import LOCAL_POSTGRESQL, PYTHON, _postgresql_url


def parse_version(text: str) -> tuple[str, Path, dict[str, str]]:
    """``NAME=TREE[:SETTING=VALUE,...]`` → (name, tree, settings)."""
    name, _, spec = text.partition("=")
    tree, _, extra = spec.partition(":")
    if not name or not tree or name == comparison.REFERENCE:
        raise argparse.ArgumentTypeError(f"expected NAME=TREE[:SETTING=VALUE,...], got {text!r}")
    overrides = dict(pair.split("=", 1) for pair in extra.split(",") if "=" in pair)
    return name, Path(tree).resolve(), overrides


@contextlib.contextmanager
def own_database(kind: Database, directory: Path, tree: Path, upstream: str) -> Iterator[str]:
    """An empty database migrated by ``tree``'s own migrations (a version may have fewer)."""
    if kind == "sqlite":
        url = f"sqlite:///{directory / 'db.sqlite3'}"
        name = None
    else:
        name = new_database_name("version")
        _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = _postgresql_url(LOCAL_POSTGRESQL, name)
    try:
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput"],
            cwd=tree,
            env=bench_environment(url, upstream),
            check=True,
            capture_output=True,
            timeout=300,
        )
        yield url
    finally:
        if name is not None:
            drop_postgresql_database(name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.versions", description=__doc__)
    parser.add_argument("versions", nargs="+", type=parse_version, metavar="NAME=TREE")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--streams", type=int, default=100, help="streams a round")
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args(argv)

    with (
        tempfile.TemporaryDirectory(prefix="bench-versions-") as temporary,
        running_upstream(deltas=15) as upstream,
        contextlib.ExitStack() as stack,
    ):
        directory = Path(temporary)
        servers = {
            comparison.REFERENCE: stack.enter_context(
                running_reference(directory / "reference", upstream.base_url)
            )
        }
        for number, (name, tree, overrides) in enumerate(args.versions):
            place = directory / f"v{number}"
            place.mkdir()
            url = stack.enter_context(own_database(args.database, place, tree, upstream.base_url))
            servers[name] = stack.enter_context(
                running_agentsite(name, url, place, upstream.base_url, root=tree, **overrides)
            )
        measured = comparison.alternate(servers, args.rounds, args.streams, args.clients, "v")
        reference = measured.streams_per_second(comparison.REFERENCE)
        print(f"{args.database}, {args.rounds} rounds of {args.streams} streams at {args.clients}")
        for name in servers:
            streams = sum(len(batch.results) for batch in measured.batches[name])
            failed = sum(len(batch.failed) for batch in measured.batches[name])
            results = measured.results(name)
            firsts = [r.first_event_seconds for r in results if r.first_event_seconds is not None]
            latency = latency_figures(results)
            print(
                f"{name:>12}  {measured.streams_per_second(name):6.1f} streams/s"
                f"  {1000 * measured.cpu_seconds[name] / streams:6.2f} ms CPU/stream"
                f"  ÷ reference {measured.streams_per_second(name) / reference:.3f}"
                f"  first event {1000 * percentile(firsts, 0.5):.0f} / "
                f"{1000 * percentile(firsts, 0.99):.0f} ms"
                f"  first delta {latency['first delta p50']:.0f} / "
                f"{latency['first delta p99']:.0f} ms"
                f"  failed {failed}"
            )


if __name__ == "__main__":
    main()
