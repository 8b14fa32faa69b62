"""Two processes on PostgreSQL + Redis: the aggregate streams/s and first-delta latency of two
``manage.py serve`` processes sharing one database and one Redis (the channel layer and the
run event log, REDIS_URL), beside one of them alone, in alternating rounds.

Each round is the same load: ``clients`` conversations at once, each running its streams one
after another, spread over the processes as a load balancer would (conversation ``i`` to
process ``i mod n``). Redis database 4 (emptied before and after).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bench.client import Batch, run_conversations, run_streams
from bench.comparison import alternate_batches, latency_figures
from bench.report import Report
from bench.stack import fresh_database_url, running_agentsite
from bench.upstream import running_upstream
from tests.support.server import reserved_redis_database

if TYPE_CHECKING:
    from bench.__main__ import Sizes

REDIS_DATABASE = 4


def bench_two_processes(report: Report, sizes: Sizes, directory: Path) -> None:
    name = "two processes postgresql + redis"
    with (
        running_upstream(sizes.deltas) as upstream,
        reserved_redis_database(REDIS_DATABASE) as redis_url,
        fresh_database_url("postgresql", directory / "two") as url,
        contextlib.ExitStack() as stack,
    ):
        processes = [
            stack.enter_context(
                running_agentsite(
                    f"process-{number}",
                    url,
                    directory / "two",
                    upstream.base_url,
                    REDIS_URL=redis_url,
                )
            )
            for number in range(2)
        ]
        for process in processes:
            asyncio.run(run_streams(process.url, sizes.warmup, sizes.clients, prefix="w"))
        layouts = {"one process": [processes[0].url], "two processes": [p.url for p in processes]}

        batches = alternate_batches(
            {layout: _rounds(urls, sizes) for layout, urls in layouts.items()}, sizes.rounds
        )
    setup = (
        f"{sizes.clients} conversations × {sizes.streams_per_client} streams × {sizes.rounds} "
        f"rounds, {sizes.deltas} deltas, REDIS_URL db {REDIS_DATABASE}"
    )
    rates: dict[str, float] = {}
    details: dict[str, dict[str, float]] = {}
    for layout, runs in batches.items():
        completed = sum(batch.completed for batch in runs)
        streams = sum(len(batch.results) for batch in runs)
        rates[layout] = completed / sum(batch.wall_seconds for batch in runs)
        figures = {"streams/s": rates[layout]} | latency_figures(
            [result for batch in runs for result in batch.results]
        )
        details[layout] = figures
        report.add(
            name,
            f"{layout}: aggregate streams/s",
            rates[layout],
            "1/s",
            f"{setup}; completed {completed}/{streams}",
        )
        for figure in ("first delta p50", "first delta p99"):
            report.add(name, f"{layout}: {figure}", figures[figure], "ms")
        report.failures.extend(
            f"{name} {layout}: {batch.error_summary()}" for batch in runs if batch.failed
        )
    report.add(
        name,
        "two ÷ one process streams/s",
        rates["two processes"] / rates["one process"],
        "",
        "the machine's cores are shared by both processes, the upstream and the client",
    )
    report.details[name] = details


def _rounds(urls: list[str], sizes: Sizes) -> Callable[[int], Batch]:
    """A round: ``clients`` new conversations spread over ``urls``."""

    def run(number: int) -> Batch:
        ids = [f"two-{uuid.uuid4().hex}" for _ in range(sizes.clients)]
        return asyncio.run(run_conversations(urls, ids, sizes.streams_per_client))

    return run
