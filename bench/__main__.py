"""``python -m bench`` — run the benchmarks, print one table, write bench-results.json.

Benchmarks (``--only NAME``, repeatable; default all):

- ``throughput``: SSE streams/s and events/s through the full stack (daphne + agentsite, on
  SQLite and on PostgreSQL) ÷ the same runs with the SDK alone (``Runner.run_streamed`` +
  ``SQLiteSession``), each baseline run right before its full-stack run, in one invocation;
  first the same for the *floor* (bench/floor.py: a bare ASGI app running the SDK under
  the same daphne command), the best ratio any daphne server can reach on the machine;
- ``ttfe``: time to first event, p50/p99, at concurrency 1 and 50, on both databases;
- ``slow``: 1,000 simultaneous slow streams (deltas 50 ms apart) on one daphne process:
  completed, errors, wall time, the process's peak RSS;
- ``session_store``: ``DjangoSession`` vs ``SQLiteSession`` latency on a 10,000-item
  conversation (SQLite and PostgreSQL);
- ``profile``: py-spy on daphne during a throughput run; top self-time functions and areas.

``--quick`` shrinks every size to a smoke run (seconds, not minutes) and says so in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import profiling
from bench.client import Batch, run_streams
from bench.report import Report, machine_line, percentile
from bench.stack import (
    Database,
    cpu_seconds,
    fresh_database_url,
    listen_overflows,
    peak_rss_bytes,
    running_floor,
    running_stack,
)
from bench.upstream import REPO_ROOT, check_with_openai_client, running_upstream
from tests.support.server import ServerProcess

BENCHMARKS = ("throughput", "ttfe", "slow", "session_store", "profile")
DATABASES: tuple[Database, ...] = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Sizes:
    """Every knob of the benchmarks in one place; ``QUICK`` is the smoke-test version."""

    deltas: int = 50
    streams: int = 200
    concurrency: int = 10
    warmup: int = 20
    ttfe_samples: int = 200
    ttfe_concurrency: tuple[int, ...] = (1, 50)
    slow_streams: int = 1000
    slow_deltas: int = 20
    slow_delay: float = 0.05
    session_items: int = 10_000
    session_repetitions: int = 500
    profile_streams: int = 400


FULL = Sizes()
QUICK = Sizes(
    deltas=10,
    streams=10,
    concurrency=2,
    warmup=2,
    ttfe_samples=6,
    ttfe_concurrency=(1, 3),
    slow_streams=10,
    slow_deltas=3,
    slow_delay=0.05,
    session_items=300,
    session_repetitions=10,
    profile_streams=20,
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


def baseline(
    base_url: str,
    sizes: Sizes,
    directory: Path,
    total: int | None = None,
    concurrency: int | None = None,
) -> dict[str, Any]:
    """The SDK-only run, in its own process (see bench/baseline.py for why)."""
    database = directory / f"baseline-{time.monotonic_ns()}.sqlite3"
    completed = run_module(
        "bench.baseline",
        "--base-url",
        base_url,
        "--total",
        str(total or sizes.streams),
        "--concurrency",
        str(concurrency or sizes.concurrency),
        "--database",
        str(database),
        "--warmup",
        str(sizes.warmup),
    )
    if completed.returncode != 0:
        raise RuntimeError(f"baseline failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout)


def bench_throughput_and_ttfe(
    report: Report, sizes: Sizes, directory: Path, names: set[str]
) -> None:
    """One upstream; per database one daphne: warm-up, throughput (with its baseline run just
    before), then the time-to-first-event runs on the same server."""
    with running_upstream(sizes.deltas) as upstream:
        asyncio.run(check_with_openai_client(upstream.base_url, sizes.deltas))
        if "throughput" in names:
            with running_floor(directory / "floor", upstream.base_url) as server:
                _measure_throughput(report, sizes, directory, "floor", server, upstream.base_url)
        for kind in DATABASES:
            with running_stack(kind, directory / kind, upstream.base_url) as server:
                if "throughput" in names:
                    _measure_throughput(report, sizes, directory, kind, server, upstream.base_url)
                else:
                    asyncio.run(
                        run_streams(server.url, sizes.warmup, sizes.concurrency, prefix="w")
                    )
                if "ttfe" in names:
                    for concurrency in sizes.ttfe_concurrency:
                        batch = asyncio.run(
                            run_streams(server.url, sizes.ttfe_samples, concurrency, prefix="t")
                        )
                        sdk = baseline(
                            upstream.base_url, sizes, directory, sizes.ttfe_samples, concurrency
                        )
                        _report_ttfe(report, kind, concurrency, batch, sdk)


def _measure_throughput(
    report: Report,
    sizes: Sizes,
    directory: Path,
    kind: str,
    server: ServerProcess,
    upstream_base_url: str,
) -> None:
    """Warm-up, the SDK-alone baseline, then the same runs through ``server``."""
    assert server.process is not None
    asyncio.run(run_streams(server.url, sizes.warmup, sizes.concurrency, prefix="w"))
    sdk = baseline(upstream_base_url, sizes, directory)
    server_cpu = cpu_seconds(server.process.pid)
    client_cpu = time.process_time()
    batch = asyncio.run(run_streams(server.url, sizes.streams, sizes.concurrency))
    cpu = {
        "server": cpu_seconds(server.process.pid) - server_cpu,
        "client": time.process_time() - client_cpu,
    }
    _report_throughput(report, sizes, kind, batch, sdk, cpu)


def _report_throughput(
    report: Report,
    sizes: Sizes,
    kind: str,
    batch: Batch,
    sdk: dict[str, Any],
    cpu: dict[str, float],
) -> None:
    name = f"throughput {kind}"
    streams_per_s = batch.completed / batch.wall_seconds
    events_per_s = batch.events / batch.wall_seconds
    sdk_streams_per_s = sdk["completed"] / sdk["wall_seconds"]
    sdk_events_per_s = sdk["events"] / sdk["wall_seconds"]
    setup = f"M={sizes.streams} C={sizes.concurrency} N={sizes.deltas}"
    # The floor (bench/floor.py) is a bare ASGI app: the best ratio daphne + HTTP allow.
    served = "bare ASGI app" if kind == "floor" else "full stack"
    target = "no Django: the ceiling for the target" if kind == "floor" else "target ≥ 0.9"
    report.add(name, f"{served} streams/s", streams_per_s, "1/s", setup)
    report.add(name, f"{served} events/s", events_per_s, "1/s", f"{batch.events} events")
    report.add(name, "SDK baseline streams/s", sdk_streams_per_s, "1/s", "separate process")
    report.add(name, "SDK baseline events/s", sdk_events_per_s, "1/s", f"{sdk['events']} events")
    report.add(name, "ratio streams/s", streams_per_s / sdk_streams_per_s, "", target)
    report.add(name, "ratio events/s", events_per_s / sdk_events_per_s, "", target)
    # CPU per stream separates "the server costs more" from "two processes share two cores".
    server_ms = 1000 * cpu["server"] / len(batch.results)
    sdk_ms = 1000 * sdk["cpu_seconds"] / sdk["streams"]
    report.add(name, "daphne CPU per stream", server_ms, "ms", "user+sys, all threads")
    report.add(
        name,
        "bench client CPU per stream",
        1000 * cpu["client"] / len(batch.results),
        "ms",
        "httpx client in the bench process",
    )
    report.add(name, "SDK baseline CPU per stream", sdk_ms, "ms", "whole baseline process")
    report.add(name, "ratio CPU/stream SDK ÷ daphne", sdk_ms / server_ms, "", "1 = same cost")
    report.add(
        name,
        "completed",
        f"{batch.completed}/{len(batch.results)} (SDK {sdk['completed']}/{sdk['streams']})",
    )
    report.details[name] = {
        "wall_seconds": batch.wall_seconds,
        "events": batch.events,
        "completed": batch.completed,
        "errors": batch.error_summary(),
        "cpu_seconds": cpu,
        "baseline": {
            key: value for key, value in sdk.items() if key != "first_model_event_seconds"
        },
    }
    if batch.failed or sdk["errors"]:
        report.failures.append(f"{name}: {batch.error_summary()} SDK: {sdk['errors']}")


def _report_ttfe(
    report: Report, kind: str, concurrency: int, batch: Batch, sdk: dict[str, Any]
) -> None:
    name = f"ttfe {kind}"
    firsts = [r.first_event_seconds for r in batch.results if r.first_event_seconds is not None]
    note = f"{len(firsts)} samples; completed {batch.completed}/{len(batch.results)}"
    report.add(
        name, f"p50 at concurrency {concurrency}", 1000 * percentile(firsts, 0.5), "ms", note
    )
    report.add(name, f"p99 at concurrency {concurrency}", 1000 * percentile(firsts, 0.99), "ms")
    models = [
        r.first_model_event_seconds
        for r in batch.results
        if r.first_model_event_seconds is not None
    ]
    sdk_models = sdk["first_model_event_seconds"]
    for label, samples, note in (
        ("first model event", models, "first raw_response SSE event"),
        (
            "SDK baseline first model event",
            sdk_models,
            "Runner.run_streamed alone, separate process",
        ),
    ):
        report.add(
            name,
            f"{label} p50 at concurrency {concurrency}",
            1000 * percentile(samples, 0.5),
            "ms",
            note,
        )
        report.add(
            name,
            f"{label} p99 at concurrency {concurrency}",
            1000 * percentile(samples, 0.99),
            "ms",
        )
    report.details[f"{name} c={concurrency}"] = {
        "samples_ms": [1000 * value for value in firsts],
        "errors": batch.error_summary(),
    }
    if batch.failed:
        report.failures.append(f"{name} c={concurrency}: {batch.error_summary()}")


def bench_slow(report: Report, sizes: Sizes, directory: Path) -> None:
    """All streams at once against one daphne on SQLite; the upstream paces every delta.

    Run twice: daphne started as the tests start it (Twisted's default listen backlog of 50),
    then with ``backlog=4096`` — a burst of 1,000 connects overflows the default queue, and the
    kernel's ListenOverflows counter says whether that happened.
    """
    for backlog in (None, 4096):
        _slow_run(report, sizes, directory, backlog)


def _slow_run(report: Report, sizes: Sizes, directory: Path, backlog: int | None) -> None:
    name = "slow streams sqlite" + ("" if backlog is None else f" backlog={backlog}")
    with (
        running_upstream(sizes.slow_deltas, sizes.slow_delay) as upstream,
        running_stack(
            "sqlite", directory / f"slow-{backlog}", upstream.base_url, backlog=backlog
        ) as server,
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
    listen = "default listen backlog (50)" if backlog is None else f"listen backlog {backlog}"
    setup = (
        f"{sizes.slow_streams} concurrent, {sizes.slow_deltas} deltas × {sizes.slow_delay:g}s, "
        f"{listen}"
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
        report.add(name, "peak RSS (VmHWM)", "daphne died", "", "see failures")
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
    """A throughput run on SQLite with py-spy attached to daphne; the summary goes in the table."""
    with (
        running_upstream(sizes.deltas) as upstream,
        running_stack("sqlite", directory / "profile", upstream.base_url) as server,
    ):
        assert server.process is not None
        asyncio.run(run_streams(server.url, sizes.warmup, sizes.concurrency, prefix="w"))
        raw = directory / "profile" / "daphne-profile.txt"
        recorder = profiling.Recorder(server.process.pid, raw)
        try:
            batch = asyncio.run(
                run_streams(server.url, sizes.profile_streams, sizes.concurrency, prefix="p")
            )
        finally:
            recorder.stop()
    if not raw.exists():
        report.failures.append(f"profile: py-spy wrote nothing:\n{recorder.log.read_text()}")
        return
    profile = profiling.summarise(raw)
    kept = REPO_ROOT / "bench-profile.txt"
    kept.write_text(raw.read_text())
    name = "profile daphne (py-spy)"
    report.add(
        name,
        "GIL-holding samples",
        profile.samples,
        "",
        f"{sizes.profile_streams} streams C={sizes.concurrency}, "
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
        ("profile", names & {"profile"}, bench_profile),
    ]
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
