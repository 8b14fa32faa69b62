"""The benchmark's HTTP client: many ``POST /chat/stream`` SSE streams at a fixed concurrency.

Every stream gets its own ``session_id`` so no two runs contend for one conversation (agentsite
allows one run per conversation) and every run does the full session work: read history, store
the new items. The client reads every ``data:`` line and parses it as JSON only to learn its
``type`` (cheaply: the last event is the only one whose type matters), so the bench process
spends as little CPU as possible on the client side of the measurement. It reads agentsite and
the reference service alike.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

import httpx

TERMINAL_TYPES = ("stream_complete", "error", "run_cancelled")


@dataclass
class StreamResult:
    """What one SSE stream did, as the client saw it."""

    events: int = 0
    first_event_seconds: float | None = None
    first_model_event_seconds: float | None = None
    first_delta_seconds: float | None = None
    total_seconds: float = 0.0
    last_type: str | None = None
    status: int | None = None
    error: str | None = None

    @property
    def completed(self) -> bool:
        return self.error is None and self.last_type == "stream_complete"


@dataclass
class Batch:
    """The streams of one run of ``run_streams``, and how long they took together."""

    results: list[StreamResult] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def completed(self) -> int:
        return sum(1 for result in self.results if result.completed)

    @property
    def failed(self) -> list[StreamResult]:
        return [result for result in self.results if not result.completed]

    @property
    def events(self) -> int:
        return sum(result.events for result in self.results)

    def error_summary(self, limit: int = 5) -> list[str]:
        """The distinct failure reasons (with counts), for the report."""
        counts: dict[str, int] = {}
        for result in self.failed:
            reason = result.error or f"status {result.status}, last event {result.last_type}"
            counts[reason] = counts.get(reason, 0) + 1
        return [f"{count}× {reason}" for reason, count in list(counts.items())[:limit]]


def make_client(base_url: str, timeout: float = 600.0) -> httpx.AsyncClient:
    """No connection cap (the concurrency is set by the caller), no proxies, long timeouts."""
    return httpx.AsyncClient(
        base_url=base_url,
        trust_env=False,
        timeout=httpx.Timeout(timeout, connect=60.0),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
    )


async def one_stream(
    client: httpx.AsyncClient,
    agent: str = "chat",
    prefix: str = "bench",
    session_id: str | None = None,
) -> StreamResult:
    """One ``/{agent}/stream`` run (in ``session_id``, else a new conversation), read to its
    end; never raises."""
    result = StreamResult()
    body = {
        "input": "Hello, benchmark!",
        "session_id": session_id or f"{prefix}-{uuid.uuid4().hex}",
    }
    started = time.perf_counter()
    last_data = ""
    try:
        async with client.stream("POST", f"/{agent}/stream", json=body) as response:
            result.status = response.status_code
            if response.status_code != 200:
                result.error = f"HTTP {response.status_code}: {(await response.aread())[:200]!r}"
                return result
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    if result.first_event_seconds is None:
                        result.first_event_seconds = time.perf_counter() - started
                    # Substrings, not JSON: the reference writes `"key": value`, agentsite
                    # `"key":value`, and parsing every event would load the client.
                    if result.first_model_event_seconds is None and "raw_response" in line:
                        result.first_model_event_seconds = time.perf_counter() - started
                    if result.first_delta_seconds is None and "output_text.delta" in line:
                        result.first_delta_seconds = time.perf_counter() - started
                    result.events += 1
                    last_data = line
        if last_data:
            result.last_type = json.loads(last_data[5:]).get("type")
        if result.last_type != "stream_complete":
            result.error = f"stream ended with {result.last_type!r}: {last_data[:200]}"
    except Exception as exc:  # any transport failure is a result, not a crash of the bench
        cause = exc.__cause__ or exc.__context__
        where = "before the response" if result.status is None else "after the headers"
        if result.status is not None and result.events:
            where = "mid-stream"
        result.error = (
            f"{type(exc).__name__}({exc}) {where}"
            + (f" caused by {type(cause).__name__}({cause})" if cause else "")
        )[:300]
    finally:
        result.total_seconds = time.perf_counter() - started
    return result


async def run_streams(
    base_url: str, total: int, concurrency: int, agent: str = "chat", prefix: str = "bench"
) -> Batch:
    """``total`` streams with at most ``concurrency`` in flight; wall time of the whole batch."""
    semaphore = asyncio.Semaphore(concurrency)
    async with make_client(base_url) as client:

        async def guarded() -> StreamResult:
            async with semaphore:
                return await one_stream(client, agent, prefix)

        started = time.perf_counter()
        results = await asyncio.gather(*(guarded() for _ in range(total)))
        return Batch(results=list(results), wall_seconds=time.perf_counter() - started)


async def run_conversations(
    base_urls: list[str], session_ids: list[str], streams_each: int, agent: str = "chat"
) -> Batch:
    """One client per conversation, all at once, each running ``streams_each`` streams in a
    row in its own conversation (agentsite allows one run per conversation at a time);
    conversation ``i`` talks to ``base_urls[i % len(base_urls)]`` (several server processes
    behind one address, as a load balancer would spread them)."""
    clients = [make_client(url) for url in base_urls]
    try:

        async def conversation(index: int, session_id: str) -> list[StreamResult]:
            client = clients[index % len(clients)]
            return [
                await one_stream(client, agent, session_id=session_id) for _ in range(streams_each)
            ]

        started = time.perf_counter()
        results = await asyncio.gather(
            *(conversation(index, session_id) for index, session_id in enumerate(session_ids))
        )
        wall = time.perf_counter() - started
    finally:
        for client in clients:
            await client.aclose()
    return Batch(results=[result for each in results for result in each], wall_seconds=wall)
