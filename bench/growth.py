"""How cost grows with the conversation: streams/s and first-delta latency when every stream
continues a stored conversation of 10, 100 or 1,000 items, with the full history sent to the
model and with a history limit (SESSION_HISTORY_LIMITS).

One database per kind, two ``manage.py serve`` processes on it — one without a limit, one with
``chat=<limit>`` — measured in alternating rounds. Each round has conversations of its own,
all stored before the first round (``python -m bench.seed``); each runs its streams one after
another, so a conversation of N items gains 2 per stream (the user's message and the answer)
during its round.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bench.client import Batch, run_conversations, run_streams
from bench.comparison import alternate_batches, latency_figures
from bench.report import Report
from bench.stack import Database, fresh_database_url, running_agentsite
from bench.upstream import REPO_ROOT, running_upstream

if TYPE_CHECKING:
    from bench.__main__ import Sizes


def seed(database_url: str, conversations: dict[str, int]) -> None:
    """Store each conversation's number of items (one subprocess: Django set up there)."""
    command = [sys.executable, "-m", "bench.seed", "--database-url", database_url]
    for session_id, items in conversations.items():
        command += ["--conversation", f"{session_id}={items}"]
    subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True, timeout=900)


def bench_growth(report: Report, sizes: Sizes, directory: Path) -> None:
    limit = sizes.history_limit
    variants = {
        "full history": {},
        f"history limit {limit}": {"SESSION_HISTORY_LIMITS": f"chat={limit}"},
    }
    with running_upstream(sizes.deltas) as upstream:
        for kind in sizes.growth_databases:
            _one_database(
                report, sizes, directory / f"growth-{kind}", kind, upstream.base_url, variants
            )


def _one_database(
    report: Report,
    sizes: Sizes,
    directory: Path,
    kind: Database,
    upstream_base_url: str,
    variants: dict[str, dict[str, str]],
) -> None:
    name = f"how cost grows {kind}"
    with fresh_database_url(kind, directory) as url, contextlib.ExitStack() as stack:
        servers = {
            variant: stack.enter_context(
                running_agentsite(
                    f"growth-{kind}-{number}", url, directory, upstream_base_url, **overrides
                )
            )
            for number, (variant, overrides) in enumerate(variants.items())
        }
        for server in servers.values():
            asyncio.run(run_streams(server.url, sizes.warmup, sizes.growth_clients, prefix="w"))
        details: dict[str, dict[str, dict[str, float]]] = {}
        # conversations[items][variant][round]: the session ids, all stored at once.
        conversations = {
            items: {
                variant: [
                    [
                        f"grow-{items}-{index}-{turn}-{client}"
                        for client in range(sizes.growth_clients)
                    ]
                    for turn in range(sizes.growth_rounds)
                ]
                for index, variant in enumerate(servers)
            }
            for items in sizes.growth_items
        }
        seed(
            url,
            {
                session_id: items
                for items, variants in conversations.items()
                for rounds in variants.values()
                for ids in rounds
                for session_id in ids
            },
        )
        for items in sizes.growth_items:
            batches = alternate_batches(
                {
                    variant: _rounds(servers[variant].url, conversations[items][variant], sizes)
                    for variant in servers
                },
                sizes.growth_rounds,
            )
            setup = (
                f"{sizes.growth_clients} conversations × {sizes.growth_streams_each} streams × "
                f"{sizes.growth_rounds} rounds, each starting at {items} items"
            )
            for variant, runs in batches.items():
                completed = sum(batch.completed for batch in runs)
                streams = sum(len(batch.results) for batch in runs)
                rate = completed / sum(batch.wall_seconds for batch in runs)
                figures = {"streams/s": rate} | latency_figures(
                    [result for batch in runs for result in batch.results]
                )
                details.setdefault(variant, {})[str(items)] = figures
                note = f"{setup}; completed {completed}/{streams}"
                report.add(name, f"{items} items, {variant}: streams/s", rate, "1/s", note)
                for figure in ("first delta p50", "first delta p99"):
                    report.add(name, f"{items} items, {variant}: {figure}", figures[figure], "ms")
                report.failures.extend(
                    f"{name} {items} items {variant}: {batch.error_summary()}"
                    for batch in runs
                    if batch.failed
                )
        report.details[name] = details


def _rounds(url: str, conversations: list[list[str]], sizes: Sizes) -> Callable[[int], Batch]:
    """Round ``n``: its own conversations, all at once, each ``growth_streams_each`` streams."""

    def run(number: int) -> Batch:
        return asyncio.run(
            run_conversations([url], conversations[number], sizes.growth_streams_each)
        )

    return run
