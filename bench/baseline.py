"""The baseline: the same runs done in-process with the SDK alone — ``Runner.run_streamed`` with
``SQLiteSession`` — with no HTTP, no Django, no server.

It runs in its own process (``python -m bench.baseline``, JSON on stdout) so that it gets a
fresh interpreter like daphne does and does not share the bench process's event loop. Fairness
notes, stated in the report too:

- the agent is chat's own ``chat.agents.chat_agent`` (same instructions, no tools), with an
  ``OpenAIResponsesModel`` over an ``AsyncOpenAI`` client configured as agentsite configures its
  provider (same upstream, no retries);
- every run gets its own ``session_id`` in one SQLite file, as every full-stack stream gets its
  own conversation;
- tracing is left as the SDK decides with ``OPENAI_API_KEY`` set — enabled, as in the server
  (agentsite enables it whenever a key is configured);
- the full stack needs a second process (the HTTP client) on the same 2 cores; the baseline
  consumes its events in the same process that produces them. That is the overhead being
  measured: serving over HTTP costs something, and the ratio says how much.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from typing import Any

# Tracing export needs a key to decide it is enabled, exactly as in the server process.
os.environ.setdefault("OPENAI_API_KEY", "sk-bench")


async def run_baseline(
    base_url: str, total: int, concurrency: int, database_path: str, warmup: int = 0
) -> dict[str, Any]:
    from agents import Runner, SQLiteSession
    from agents.models.openai_responses import OpenAIResponsesModel
    from openai import AsyncOpenAI

    from bench.upstream import MODEL

    client = AsyncOpenAI(api_key="sk-bench", base_url=base_url, timeout=600, max_retries=0)
    model = OpenAIResponsesModel(model=MODEL, openai_client=client)
    agent = _chat_agent().clone(model=model)
    semaphore = asyncio.Semaphore(concurrency)
    first_event: list[float] = []
    errors: list[str] = []

    async def one() -> int:
        async with semaphore:
            session = SQLiteSession(f"baseline-{uuid.uuid4().hex}", database_path)
            started = time.perf_counter()
            events = 0
            first_model: float | None = None
            try:
                result = Runner.run_streamed(agent, "Hello, benchmark!", session=session)
                async for event in result.stream_events():
                    # The SDK yields agent_updated before doing anything; the first model event
                    # is what compares with the server's first raw_response event.
                    if first_model is None and event.type == "raw_response_event":
                        first_model = time.perf_counter() - started
                        first_event.append(first_model)
                    events += 1
                if result.final_output is None:
                    errors.append("no final output")
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
            return events

    # Warm-up runs (imports, connection pool, SQLite file) are not counted, as in the full stack.
    await asyncio.gather(*(one() for _ in range(warmup)))
    first_event.clear()
    errors.clear()
    started = time.perf_counter()
    cpu_started = time.process_time()
    counts = await asyncio.gather(*(one() for _ in range(total)))
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    await client.close()
    return {
        "streams": total,
        "completed": total - len(errors),
        "errors": errors[:5],
        "events": sum(counts),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "first_model_event_seconds": first_event,
    }


def _chat_agent() -> Any:
    """chat's agent definition; it imports only the SDK (no Django models), so no setup."""
    from chat.agents import chat_agent

    return chat_agent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SDK-only baseline for the throughput bench")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--database", required=True, help="SQLiteSession file")
    parser.add_argument("--warmup", type=int, default=0, help="uncounted runs first")
    args = parser.parse_args(argv)
    figures = asyncio.run(
        run_baseline(args.base_url, args.total, args.concurrency, args.database, args.warmup)
    )
    json.dump(figures, sys.stdout)


if __name__ == "__main__":
    main()
