"""Session-store latency: ``DjangoSession`` vs the SDK's ``SQLiteSession`` on the same machine.

A conversation of 10,000 items; then, many times over, ``get_items(limit=50)`` (the last 50 —
what a run with a history limit reads) and ``add_items([user, assistant])`` (what a turn writes).

Django can be set up only once per interpreter and its database comes from ``DATABASE_URL`` at
import time, so each database is measured in its own process
(``python -m bench.session_store --database-url …``, JSON on stdout). The SQLiteSession
comparison runs in the same process, on a file next to the SQLite database (or in a temporary
directory), with the same items, so both sides pay the same interpreter and event-loop costs.
Each call is awaited on its own, one at a time: this is latency, not throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any


def conversation_items(count: int, start: int = 0) -> list[dict[str, Any]]:
    """Alternating user and assistant messages of a realistic size (~150–250 bytes of JSON)."""
    items: list[dict[str, Any]] = []
    for index in range(start, start + count):
        if index % 2 == 0:
            items.append({"role": "user", "content": f"Question number {index}: " + "why? " * 12})
        else:
            items.append(
                {
                    "id": f"msg_{index:08d}",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [
                        {
                            "type": "output_text",
                            "text": f"Answer {index}: " + "because. " * 12,
                            "annotations": [],
                        }
                    ],
                }
            )
    return items


def summary(samples: list[float]) -> dict[str, float]:
    """p50 / mean / p99 of samples in microseconds."""
    samples = sorted(samples)
    return {
        "p50_us": statistics.median(samples),
        "mean_us": statistics.fmean(samples),
        "p99_us": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
    }


async def fill(session: Any, total: int, batch: int = 500) -> None:
    for start in range(0, total, batch):
        await session.add_items(conversation_items(min(batch, total - start), start))


async def compare(sessions: dict[str, Any], items: int, repetitions: int) -> dict[str, Any]:
    """Each operation timed on every session in turn, repetition by repetition (the order
    alternating), so a noisy moment of the machine falls on both stores alike; 5 warm-ups."""
    turns = {name: iter(range(10**9)) for name in sessions}

    def get_last_50(name: str) -> Awaitable[Any]:
        return sessions[name].get_items(limit=50)

    def add_two(name: str) -> Awaitable[Any]:
        return sessions[name].add_items(conversation_items(2, items + 2 * next(turns[name])))

    figures: dict[str, Any] = {name: {} for name in sessions}
    for operation, call in (("get_items_last_50", get_last_50), ("add_items_2", add_two)):
        samples: dict[str, list[float]] = {name: [] for name in sessions}
        names = list(sessions)
        for repetition in range(5 + repetitions):
            for name in names if repetition % 2 else reversed(names):
                started = time.perf_counter()
                await call(name)
                if repetition >= 5:
                    samples[name].append((time.perf_counter() - started) * 1e6)
        for name in sessions:
            figures[name][operation] = summary(samples[name])
    return figures


async def run(items: int, repetitions: int, sqlite_path: str) -> dict[str, Any]:
    import django

    django.setup()
    from agents import SQLiteSession
    from asgiref.sync import sync_to_async
    from django.db import connection

    from agentsite.conversations.session import DjangoSession

    def analyze() -> None:
        """What autovacuum does within a minute of a bulk load like ``fill``: without fresh
        statistics PostgreSQL's planner guesses (and reads the whole conversation)."""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")

    django_session = DjangoSession("bench-session-store", agent="chat")
    await django_session.clear_session()
    sdk_session = SQLiteSession("bench-session-store", sqlite_path)
    sessions = {"django": django_session, "sqlite_session": sdk_session}
    for session in sessions.values():
        await fill(session, items)
    await sync_to_async(analyze)()
    for session in sessions.values():
        got = await session.get_items(limit=50)
        assert len(got) == 50, f"expected the last 50 items, got {len(got)}"
    figures = await compare(sessions, items, repetitions)
    sdk_session.close()
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="DjangoSession vs SQLiteSession latency")
    parser.add_argument("--database-url", required=True, help="an already migrated database")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repetitions", type=int, default=500)
    parser.add_argument("--sqlite-session-file", default=None)
    args = parser.parse_args(argv)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentsite.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    sqlite_path = args.sqlite_session_file or str(
        Path(tempfile.mkdtemp(prefix="bench-sdk-")) / "sdk-session.sqlite3"
    )
    figures = asyncio.run(run(args.items, args.repetitions, sqlite_path))
    json.dump(figures, sys.stdout)


if __name__ == "__main__":
    main()
