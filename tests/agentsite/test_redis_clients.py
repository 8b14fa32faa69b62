"""``agentsite.redis_clients``: a client per event loop, let go with its loop — a sync caller
(an admin view, a test client) runs each call on a new loop, and a client kept per dead loop
would pile up for the life of the process (the quotas' counters kept them all)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from redis.asyncio import Redis

from agentsite.governance.quota_counters import RedisCounters
from agentsite.runs.eventlog import RedisEventLog

URL = "redis://127.0.0.1:6379/0"  # no command is sent: only clients are made


def live_clients() -> int:
    gc.collect()
    return sum(isinstance(thing, Redis) for thing in gc.get_objects())


@pytest.mark.parametrize("holder", [RedisCounters, RedisEventLog])
def test_one_client_per_loop_and_none_kept_for_a_finished_loop(holder: Any):
    user = holder(URL)
    before = live_clients()

    async def same_client_twice() -> bool:
        return user.redis is user.redis

    for _ in range(3):
        assert asyncio.run(same_client_twice())

    assert live_clients() == before
