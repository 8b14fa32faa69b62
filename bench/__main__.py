"""``python -m bench`` — run the benchmarks, print one table, write bench-results.json.

Benchmarks (``--only NAME``, repeatable; default all):

- ``throughput``: SSE streams/s through agentsite (``manage.py serve``, on SQLite and on
  PostgreSQL) and through the reference — a small FastAPI service under uvicorn doing what the
  replaced app did (bench/reference.py) — with the same upstream, client and concurrency (20
  clients × 5 streams, each with its own session), in alternating rounds; ratios printed;
- ``ttfe``: time to the first event and to the first text delta, p50/p99, at 20 and 50
  concurrent clients, the same servers in alternating rounds;
- ``slow``: 1,000 simultaneous slow streams (deltas 50 ms apart) on one ``serve`` process:
  completed, errors, wall time, the process's peak RSS;
- ``session_store``: ``DjangoSession`` vs ``SQLiteSession`` latency on a 10,000-item
  conversation (SQLite and PostgreSQL);
- ``growth``: how cost grows — streams/s and first-delta latency when every stream continues a
  stored conversation of 10, 100 and 1,000 items, with and without a history limit
  (bench/growth.py);
- ``processes``: two ``serve`` processes on PostgreSQL + Redis beside one of them alone:
  aggregate streams/s and first-delta latency (bench/processes.py; Redis database 4);
- ``profile``: py-spy on the server during a throughput run; top self-time functions and areas.

``--quick`` shrinks every size to a smoke run (seconds, not minutes) and says so in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import comparison, profiling
from bench.client import run_streams
from bench.growth import bench_growth
from bench.processes import bench_two_processes
from bench.report import Report, machine_line, percentile
from bench.stack import (
    TEMPLATES,
    Database,
    fresh_database_url,
    listen_overflows,
    peak_rss_bytes,
    running_reference,
    running_stack,
    serving_pid,
)
from bench.upstream import REPO_ROOT, check_with_openai_client, running_upstream
from tests.support.server import ServerProcess

BENCHMARKS = ("throughput", "ttfe", "slow", "session_store", "growth", "processes", "profile")
DATABASES: tuple[Database, ...] = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Sizes:
    """Every knob of the benchmarks in one place; ``QUICK`` is the smoke-test version."""

    # 15 deltas: ~25 SSE events a stream (created, item/part added and done, deltas, …).
    deltas: int = 15
    clients: int = 20
    streams_per_client: int = 5
    rounds: int = 5
    warmup: int = 20
    latency_concurrency: tuple[int, ...] = (20, 50)
    latency_rounds: int = 3
    slow_streams: int = 1000
    slow_deltas: int = 20
    slow_delay: float = 0.05
    session_items: int = 10_000
    session_repetitions: int = 500
    profile_streams: int = 400
    growth_items: tuple[int, ...] = (10, 100, 1000)
    growth_databases: tuple[Database, ...] = DATABASES
    growth_clients: int = 10
    growth_streams_each: int = 5
    growth_rounds: int = 2
    history_limit: int = 50


FULL = Sizes()
QUICK = Sizes(
    deltas=5,
    clients=2,
    streams_per_client=2,
    rounds=1,
    warmup=2,
    latency_concurrency=(3,),
    latency_rounds=1,
    slow_streams=10,
    slow_deltas=3,
    slow_delay=0.05,
    session_items=300,
    session_repetitions=10,
    profile_streams=20,
    growth_databases=("sqlite",),
    growth_clients=2,
    growth_streams_each=1,
    growth_rounds=1,
)


def run_module(module: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``python -m module arguments`` from the repository root; its JSON on stdout."""
    return subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def bench_throughput_and_ttfe(
    report: Report, sizes: Sizes, directory: Path, names: set[str]
) -> None:
    """One upstream; the reference and agentsite on each database, all up at once (an idle
    server costs nothing), warmed up, then measured in alternating rounds."""
    with running_upstream(sizes.deltas) as upstream, contextlib.ExitStack() as stack:
        asyncio.run(check_with_openai_client(upstream.base_url, sizes.deltas))
        servers: dict[str, ServerProcess] = {
            comparison.REFERENCE: stack.enter_context(
                running_reference(directory / "reference", upstream.base_url)
            )
        }
        for kind in DATABASES:
            servers[kind] = stack.enter_context(
                running_stack(kind, directory / kind, upstream.base_url)
            )
        for server in servers.values():
            asyncio.run(run_streams(server.url, sizes.warmup, sizes.clients, prefix="w"))
        if "throughput" in names:
            total = sizes.clients * sizes.streams_per_client
            measured = comparison.alternate(servers, sizes.rounds, total, sizes.clients, "b")
            setup = (
                f"{sizes.clients} clients × {sizes.streams_per_client} streams × "
                f"{sizes.rounds} rounds, {sizes.deltas} deltas"
            )
            comparison.report_throughput(report, measured, setup)
        if "ttfe" in names:
            for concurrency in sizes.latency_concurrency:
                measured = comparison.alternate(
                    servers, sizes.latency_rounds, 2 * concurrency, concurrency, "t"
                )
                comparison.report_latency(report, measured, concurrency)


def bench_slow(report: Report, sizes: Sizes, directory: Path) -> None:
    """All streams at once against one ``manage.py serve`` process on SQLite (its listen
    backlog: LISTEN_BACKLOG, 4,096); the upstream paces every delta. The kernel's
    ListenOverflows counter says whether a burst of connects overflowed the listen queue."""
    name = "slow streams sqlite"
    with (
        running_upstream(sizes.slow_deltas, sizes.slow_delay) as upstream,
        running_stack("sqlite", directory / "slow", upstream.base_url) as server,
    ):
        assert server.process is not None
        asyncio.run(run_streams(server.url, 2, 2, prefix="w"))
        rss_before = peak_rss_bytes(server.process.pid)
        overflows_before = listen_overflows()
        batch = asyncio.run(
            run_streams(server.url, sizes.slow_streams, sizes.slow_streams, prefix="slow")
        )
        overflows = listen_overflows() - overflows_before
        peak = peak_rss_bytes(server.process.pid) if server.running else None
        log_lines = server.log().splitlines()
    upstream_seconds = sizes.slow_deltas * sizes.slow_delay
    setup = (
        f"{sizes.slow_streams} concurrent, {sizes.slow_deltas} deltas × {sizes.slow_delay:g}s, "
        "manage.py serve"
    )
    report.add(name, "completed", f"{batch.completed}/{sizes.slow_streams}", "", setup)
    report.add(name, "errors", len(batch.failed), "", "; ".join(batch.error_summary(2)))
    report.add(name, "kernel listen-queue overflows", overflows, "", "TcpExt ListenOverflows Δ")
    report.add(
        name, "wall time", batch.wall_seconds, "s", f"one stream alone ≥ {upstream_seconds:g}s"
    )
    durations = [r.total_seconds for r in batch.results if r.completed]
    report.add(name, "completed stream duration p50", percentile(durations, 0.5), "s")
    report.add(name, "completed stream duration p99", percentile(durations, 0.99), "s")
    firsts = [r.first_event_seconds for r in batch.results if r.first_event_seconds is not None]
    report.add(name, "first event p50", 1000 * percentile(firsts, 0.5), "ms")
    report.add(name, "first event p99", 1000 * percentile(firsts, 0.99), "ms")
    if peak is None:
        report.add(name, "peak RSS (VmHWM)", "server died", "", "see failures")
    else:
        report.add(name, "peak RSS (VmHWM)", peak / 2**20, "MiB", "target < 1024 MiB")
    failed_after = sorted(r.total_seconds for r in batch.failed)
    server_errors = [
        line
        for line in log_lines
        if not line.startswith("127.0.0.1:") and "Tracing" not in line and line.strip()
    ]
    report.details[name] = {
        "wall_seconds": batch.wall_seconds,
        "peak_rss_bytes": peak,
        "rss_after_warmup_bytes": rss_before,
        "listen_overflows": overflows,
        "errors": batch.error_summary(10),
        "failed_after_seconds_min_p50_max": [
            failed_after[0],
            percentile(failed_after, 0.5),
            failed_after[-1],
        ]
        if failed_after
        else [],
        "server_log_other_lines": server_errors[:50],
    }
    if batch.failed or peak is None:
        report.failures.append(
            f"{name}: {batch.error_summary(10)}; {overflows} listen-queue overflows; failed "
            f"streams gave up after {report.details[name]['failed_after_seconds_min_p50_max']} s"
            f"; server log (non-access, non-tracing lines): {server_errors[:10]}"
        )


def bench_session_store(report: Report, sizes: Sizes, directory: Path) -> None:
    for kind in DATABASES:
        (directory / f"store-{kind}").mkdir(parents=True, exist_ok=True)
        with fresh_database_url(kind, directory / f"store-{kind}") as url:
            completed = run_module(
                "bench.session_store",
                "--database-url",
                url,
                "--items",
                str(sizes.session_items),
                "--repetitions",
                str(sizes.session_repetitions),
                "--sqlite-session-file",
                str(directory / f"store-{kind}" / "sdk-session.sqlite3"),
            )
        if completed.returncode != 0:
            report.failures.append(f"session_store {kind}: {completed.stderr[-3000:]}")
            continue
        figures = json.loads(completed.stdout)
        name = f"session store {kind}"
        setup = f"{sizes.session_items} items, {sizes.session_repetitions} reps"
        for operation, label in (
            ("get_items_last_50", "get_items(limit=50)"),
            ("add_items_2", "add_items(2)"),
        ):
            ours = figures["django"][operation]
            sdk = figures["sqlite_session"][operation]
            report.add(name, f"{label} DjangoSession p50", ours["p50_us"], "µs", setup)
            report.add(name, f"{label} DjangoSession mean", ours["mean_us"], "µs")
            report.add(name, f"{label} SQLiteSession p50", sdk["p50_us"], "µs")
            report.add(name, f"{label} SQLiteSession mean", sdk["mean_us"], "µs")
            report.add(
                name,
                f"{label} SDK/Django p50",
                sdk["p50_us"] / ours["p50_us"],
                "",
                "target ≥ 1 (Django at least as fast)",
            )
        report.details[name] = figures


def bench_profile(report: Report, sizes: Sizes, directory: Path) -> None:
    """A throughput run on SQLite with py-spy attached to the server; the summary goes in the
    table."""
    with (
        running_upstream(sizes.deltas) as upstream,
        running_stack("sqlite", directory / "profile", upstream.base_url) as server,
    ):
        assert server.process is not None
        asyncio.run(run_streams(server.url, sizes.warmup, sizes.clients, prefix="w"))
        raw = directory / "profile" / "server-profile.txt"
        recorder = profiling.Recorder(serving_pid(server.process.pid), raw)
        try:
            batch = asyncio.run(
                run_streams(server.url, sizes.profile_streams, sizes.clients, prefix="p")
            )
        finally:
            recorder.stop()
    if not raw.exists():
        report.failures.append(f"profile: py-spy wrote nothing:\n{recorder.log.read_text()}")
        return
    profile = profiling.summarise(raw)
    kept = REPO_ROOT / "bench-profile.txt"
    kept.write_text(raw.read_text())
    name = "profile manage.py serve (py-spy)"
    report.add(
        name,
        "GIL-holding samples",
        profile.samples,
        "",
        f"{sizes.profile_streams} streams C={sizes.clients}, "
        f"{batch.completed} completed; raw stacks in bench-profile.txt",
    )
    for area, share in profile.areas:
        report.add(name, f"inclusive: {area}", share, "%", "any frame of the stack in it")
    for label, share in profile.own_code[:12]:
        report.add(name, f"spent for: {label}", share, "%", "innermost agentsite frame")
    for label, share in profile.self_top[:15]:
        report.add(name, f"self: {label}", share, "%", "leaf frame")
    report.details[name] = {
        "samples": profile.samples,
        "areas": profile.areas,
        "self_top": profile.self_top,
        "own_code": profile.own_code,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke-sized run")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="repeatable")
    parser.add_argument("--skip", action="append", choices=BENCHMARKS, default=[])
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench-results.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 if any stream or benchmark failed"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    names = set(args.only or BENCHMARKS) - set(args.skip)
    if args.quick and not args.only:
        names.discard("profile")  # py-spy needs seconds of samples to say anything
    report = Report()
    report.details["sizes"] = sizes.__dict__ | {"quick": args.quick}
    directory = Path(tempfile.mkdtemp(prefix="agentsite-bench-"))
    started = time.monotonic()
    steps = [
        ("throughput/ttfe", names & {"throughput", "ttfe"}, bench_throughput_and_ttfe),
        ("slow", names & {"slow"}, bench_slow),
        ("session_store", names & {"session_store"}, bench_session_store),
        ("growth", names & {"growth"}, bench_growth),
        ("processes", names & {"processes"}, bench_two_processes),
        ("profile", names & {"profile"}, bench_profile),
    ]
    try:
        for label, wanted, function in steps:
            if not wanted:
                continue
            print(f"… {label} ({time.monotonic() - started:.0f}s)", file=sys.stderr, flush=True)
            try:
                if function is bench_throughput_and_ttfe:
                    function(report, sizes, directory, wanted)
                else:
                    function(report, sizes, directory)
            except Exception as exc:
                report.failures.append(f"{label}: {type(exc).__name__}: {exc}")
    finally:
        TEMPLATES.close()
    print()
    print(report.table())
    print()
    print(
        f"{machine_line()}; total {time.monotonic() - started:.0f}s"
        + (" (QUICK sizes)" if args.quick else "")
    )
    for failure in report.failures:
        print(f"FAILED: {failure}")
    report.write_json(args.json)
    print(f"figures written to {args.json}")
    if not args.keep:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)
    else:
        print(f"kept {directory}")
    # Failures are printed (FAILED: …) and kept in the JSON; they are findings, so the exit
    # status says "failed" only when asked (--strict, e.g. in CI).
    return 1 if report.failures and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
