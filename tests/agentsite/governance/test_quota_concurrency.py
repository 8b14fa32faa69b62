"""Counters under concurrency, on both backends (the database; Redis, DB 9): 50 simultaneous
requests against a limit of 10 → exactly 10 pass, for concurrent runs and runs per minute."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from agents.testing import ModelStep, assistant_message

import agentsite.governance.quota_counters as quota_counters
from agentsite.governance.quota_counters import get_counters
from agentsite.governance.quotas import forget_cached_overrides
from agentsite.models import ANONYMOUS_OWNER
from tests.support.server import reserved_redis_database
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)
REDIS_DB_QUOTAS = 9
REQUESTS = 50
LIMIT = 10


@pytest.fixture(params=["database", "redis"])
def backend(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    forget_cached_overrides()
    if request.param == "database":
        yield request.param
        return
    with reserved_redis_database(REDIS_DB_QUOTAS) as url:
        settings.REDIS_URL = url
        assert type(get_counters()).__name__ == "RedisCounters"
        yield request.param


async def post(client: Any, path: str, body: dict[str, Any]) -> Any:
    return await client.post(path, json.dumps(body), content_type="application/json")


async def test_fifty_simultaneous_streams_against_ten_concurrent_runs(
    client, settings, use_scripted_model, backend
):
    settings.QUOTA_CONCURRENT_RUNS = LIMIT
    release = asyncio.Event()

    async def held(call: Any) -> Any:
        await release.wait()
        return [assistant_message("done")]

    use_scripted_model([ModelStep.respond(held) for _ in range(REQUESTS)])
    responses = await asyncio.gather(
        *(post(client, "/chat/stream", {"input": f"n{n}"}) for n in range(REQUESTS))
    )
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == LIMIT and statuses.count(429) == REQUESTS - LIMIT
    assert (await get_counters().counted(ANONYMOUS_OWNER)).running == LIMIT
    release.set()
    for response in responses:
        if response.status_code == 200:
            raw = b"".join([chunk async for chunk in response.streaming_content])
            assert parse_sse(raw)[-1]["type"] == "stream_complete"


async def test_fifty_simultaneous_runs_against_ten_per_minute(
    client, settings, monkeypatch, backend
):
    settings.QUOTA_RUNS_PER_MINUTE = LIMIT
    # One minute for all of them, whatever the clock says (a window boundary mid-test would
    # start a fresh count).
    fixed = 1_800_000_030.0
    monkeypatch.setattr(quota_counters, "clock", lambda: fixed)
    responses = await asyncio.gather(
        *(post(client, "/chat/run", {"input": f"n{n}"}) for n in range(REQUESTS))
    )
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == LIMIT and statuses.count(429) == REQUESTS - LIMIT
    assert (await get_counters().counted(ANONYMOUS_OWNER)).runs_this_minute == LIMIT


async def test_each_backend_counts_research_tokens_and_lapsed_slots(settings, backend):
    from agentsite.errors import QuotaExceeded
    from agentsite.governance.quotas import admit_run

    settings.QUOTA_RESEARCH_PER_DAY = 1
    settings.QUOTA_TOKENS_PER_DAY = 100
    settings.QUOTA_CONCURRENT_RUNS = 1
    settings.RUN_LEASE_SECONDS = 0  # every slot lapses at once, as a dead process's would
    counters = get_counters()
    await admit_run("key:3", uuid.uuid4(), research=True)
    await asyncio.sleep(0.01)
    with pytest.raises(QuotaExceeded) as research:
        await admit_run("key:3", uuid.uuid4(), research=True)
    assert research.value.limit == "research_per_day"
    await admit_run("key:3", uuid.uuid4())  # not research; the lapsed slot is free
    assert await counters.charge("key:3", 60) == 60
    assert await counters.charge("key:3", 60) == 120
    await asyncio.sleep(0.01)
    with pytest.raises(QuotaExceeded) as tokens:
        await admit_run("key:3", uuid.uuid4())
    assert tokens.value.limit == "tokens_per_day"
    counted = await counters.counted("key:3")
    assert (counted.research_today, counted.tokens_today, counted.running) == (1, 120, 0)
