"""agentsite beside the reference FastAPI service, in alternating rounds of one run.

The machine is shared and noisy, so absolute figures drift by tens of percent within minutes;
what is compared is measured turn about: one round is the same batch of streams (same upstream,
same client, same concurrency) against every server in turn, the order reversed every other
round, so a noisy moment falls on all of them alike. Ratios are of the totals over all rounds
(streams completed ÷ wall time summed), with the spread of the per-round ratios beside them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.client import Batch, StreamResult, run_streams
from bench.report import Report, percentile
from bench.stack import cpu_seconds
from tests.support.server import ServerProcess

REFERENCE = "reference"
# Targets of issue 16: agentsite's streams/s ÷ the reference's, per database.
THROUGHPUT_TARGETS = {"sqlite": 1.1, "postgresql": 1.0}
LABELS = {
    REFERENCE: "FastAPI reference (uvicorn)",
    "sqlite": "agentsite SQLite (serve)",
    "postgresql": "agentsite PostgreSQL (serve)",
}


@dataclass
class Rounds:
    """Every server's batches, round by round, and the CPU each server used for them."""

    batches: dict[str, list[Batch]] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    def streams_per_second(self, name: str) -> float:
        batches = self.batches[name]
        return sum(b.completed for b in batches) / sum(b.wall_seconds for b in batches)

    def events_per_second(self, name: str) -> float:
        batches = self.batches[name]
        return sum(b.events for b in batches) / sum(b.wall_seconds for b in batches)

    def results(self, name: str) -> list[StreamResult]:
        return [result for batch in self.batches[name] for result in batch.results]

    def round_ratios(self, name: str) -> list[float]:
        """streams/s of ``name`` ÷ the reference's, one per round."""
        return [
            (ours.completed / ours.wall_seconds) / (theirs.completed / theirs.wall_seconds)
            for ours, theirs in zip(self.batches[name], self.batches[REFERENCE], strict=True)
        ]

    def failures(self) -> list[str]:
        return [
            f"{name}: {batch.error_summary()}"
            for name, batches in self.batches.items()
            for batch in batches
            if batch.failed
        ]


def alternate(
    servers: dict[str, ServerProcess], rounds: int, total: int, concurrency: int, prefix: str
) -> Rounds:
    """``rounds`` rounds of ``total`` streams at ``concurrency`` against every server in turn."""
    measured = Rounds({name: [] for name in servers}, dict.fromkeys(servers, 0.0))
    for number in range(rounds):
        order = list(servers) if number % 2 == 0 else list(reversed(servers))
        for name in order:
            server = servers[name]
            assert server.process is not None
            before = cpu_seconds(server.process.pid)
            batch = asyncio.run(run_streams(server.url, total, concurrency, prefix=prefix))
            measured.cpu_seconds[name] += cpu_seconds(server.process.pid) - before
            measured.batches[name].append(batch)
    return measured


def report_throughput(report: Report, measured: Rounds, setup: str) -> None:
    name = "throughput vs reference"
    reference = measured.streams_per_second(REFERENCE)
    for server in measured.batches:
        streams = sum(len(batch.results) for batch in measured.batches[server])
        completed = sum(batch.completed for batch in measured.batches[server])
        report.add(
            name,
            f"{LABELS[server]} streams/s",
            measured.streams_per_second(server),
            "1/s",
            f"{setup}; completed {completed}/{streams}",
        )
        report.add(name, f"{LABELS[server]} events/s", measured.events_per_second(server), "1/s")
        report.add(
            name,
            f"{LABELS[server]} CPU per stream",
            1000 * measured.cpu_seconds[server] / max(streams, 1),
            "ms",
            "server process, user+sys, all threads",
        )
    for kind, target in THROUGHPUT_TARGETS.items():
        if kind not in measured.batches:
            continue
        ratio = measured.streams_per_second(kind) / reference
        per_round = measured.round_ratios(kind)
        verdict = "met" if ratio >= target else "NOT met"
        report.add(
            name,
            f"ratio streams/s {kind} ÷ reference",
            ratio,
            "",
            f"target ≥ {target:g}: {verdict}; per round {min(per_round):.2f}–{max(per_round):.2f}",
        )
    report.details[name] = {
        server: {
            "streams_per_second": measured.streams_per_second(server),
            "cpu_seconds": measured.cpu_seconds[server],
            "round_streams_per_second": [b.completed / b.wall_seconds for b in batches],
            "completed": sum(b.completed for b in batches),
            "streams": sum(len(b.results) for b in batches),
            "errors": [error for b in batches for error in b.error_summary()],
        }
        for server, batches in measured.batches.items()
    }
    report.failures.extend(f"{name}: {failure}" for failure in measured.failures())


def report_latency(report: Report, measured: Rounds, concurrency: int) -> None:
    """Time to the first event and to the first text delta, p50 and p99, every server; the
    target is agentsite ≤ the reference on each figure."""
    name = f"latency at {concurrency} clients"
    figures: dict[str, dict[str, float]] = {}
    for server in measured.batches:
        results = measured.results(server)
        firsts = [r.first_event_seconds for r in results if r.first_event_seconds is not None]
        deltas = [r.first_delta_seconds for r in results if r.first_delta_seconds is not None]
        figures[server] = {
            "first event p50": 1000 * percentile(firsts, 0.5),
            "first event p99": 1000 * percentile(firsts, 0.99),
            "first delta p50": 1000 * percentile(deltas, 0.5),
            "first delta p99": 1000 * percentile(deltas, 0.99),
        }
    for figure in ("first event p50", "first event p99", "first delta p50", "first delta p99"):
        theirs = figures[REFERENCE][figure]
        for server, values in figures.items():
            note = f"{len(measured.results(server))} streams"
            if server != REFERENCE:
                verdict = "met" if values[figure] <= theirs else "NOT met"
                note = f"÷ reference {values[figure] / theirs:.2f}; target ≤ reference: {verdict}"
            report.add(name, f"{figure} {LABELS[server]}", values[figure], "ms", note)
    report.details[name] = figures
    report.failures.extend(f"{name}: {failure}" for failure in measured.failures())


def alternate_batches(
    runs: dict[str, Callable[[int], Batch]], rounds: int
) -> dict[str, list[Batch]]:
    """``rounds`` rounds of every ``runs[name](round_number)`` in turn, the order reversed every
    other round (as ``alternate``, for batches other than fresh conversations on one server)."""
    batches: dict[str, list[Batch]] = {name: [] for name in runs}
    for number in range(rounds):
        order = list(runs) if number % 2 == 0 else list(reversed(runs))
        for name in order:
            batches[name].append(runs[name](number))
    return batches


def latency_figures(results: list[StreamResult]) -> dict[str, float]:
    """First text delta p50 and p99, in ms, of the streams that got one."""
    deltas = [r.first_delta_seconds for r in results if r.first_delta_seconds is not None]
    return {
        "first delta p50": 1000 * percentile(deltas, 0.5),
        "first delta p99": 1000 * percentile(deltas, 0.99),
    }
