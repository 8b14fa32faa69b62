"""Where the quotas count, shared by every process: Redis with ``REDIS_URL``, else the database.

Two counter backends with one interface. ``admit`` checks every limit and, only when all pass,
counts the run — in one Lua script on Redis, in one transaction holding the owner's lock row in
the database — so concurrent admissions never both take the last unit. What is counted:

- runs started in the current UTC minute (a fixed window) and research runs this UTC day;
- tokens this UTC day (``charge``, as the model's usage arrives);
- runs running now, as *slots* with a lease (``hold``/``renew``/``release``): a process that
  dies mid-run stops renewing, and its slots lapse after RUN_LEASE_SECONDS.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from agentsite.conversations.dbthread import in_database_thread
from agentsite.governance.quota_models import QuotaCounter, QuotaSlot
from agentsite.redis_clients import LoopClients

MINUTE = 60
DAY = 86_400
KEY_PREFIX = "agentsite:quota"
# Seconds since the epoch: the windows' clock (a name of its own, so tests can hold it still).
clock = time.time


@dataclass(frozen=True)
class Counted:
    """An owner's counts at ``now`` (seconds since the epoch)."""

    runs_this_minute: int
    research_today: int
    tokens_today: int
    running: int
    now: float


@dataclass(frozen=True)
class Caps:
    """The limits ``admit`` checks (None: no limit)."""

    runs_per_minute: int | None
    concurrent_runs: int | None
    tokens_per_day: int | None
    research_per_day: int | None


def window_start(now: float, seconds: int) -> int:
    return int(now) - int(now) % seconds


def refusals(caps: Caps, counted: Counted, research: bool) -> list[str]:
    """The limits a new run would cross, given what is counted (one home for the rule)."""
    over = []
    if caps.runs_per_minute is not None and counted.runs_this_minute + 1 > caps.runs_per_minute:
        over.append("runs_per_minute")
    if caps.concurrent_runs is not None and counted.running + 1 > caps.concurrent_runs:
        over.append("concurrent_runs")
    if caps.tokens_per_day is not None and counted.tokens_today >= caps.tokens_per_day:
        over.append("tokens_per_day")
    if (
        research
        and caps.research_per_day is not None
        and counted.research_today + 1 > caps.research_per_day
    ):
        over.append("research_per_day")
    return over


class Counters(Protocol):
    async def admit(
        self, owner: str, run_id: uuid.UUID, caps: Caps, research: bool
    ) -> tuple[list[str], Counted]:
        """Count the run if no limit refuses it: ``([], counts after)``; else ``(limits
        crossed, counts)`` with nothing counted."""

    async def hold(self, owner: str, run_id: uuid.UUID) -> None:
        """Take (or renew) the run's slot whatever the limit (a run resumed after approval)."""

    async def release(self, owner: str, run_id: uuid.UUID) -> None: ...

    async def charge(self, owner: str, tokens: int) -> int:
        """Add ``tokens`` to today's count; the count after."""

    async def counted(self, owner: str) -> Counted: ...


def _lease_seconds() -> int:
    return int(settings.RUN_LEASE_SECONDS)


# --- Redis ---------------------------------------------------------------------------------

# KEYS: runs (this minute), research (today), tokens (today), slots (sorted set: run id →
# lease end in ms). ARGV: now_ms, lease_ms, run_id, runs limit, research limit, tokens limit,
# slots limit (-1: none), research (1/0), seconds the minute and the day keys live.
_ADMIT = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local runs = tonumber(redis.call('GET', KEYS[1]) or '0')
local research = tonumber(redis.call('GET', KEYS[2]) or '0')
local tokens = tonumber(redis.call('GET', KEYS[3]) or '0')
local running = redis.call('ZCARD', KEYS[4])
local refused = {}
local function over(limit, used)
  limit = tonumber(limit)
  return limit >= 0 and used + 1 > limit
end
if over(ARGV[4], runs) then table.insert(refused, 'runs_per_minute') end
if over(ARGV[7], running) then table.insert(refused, 'concurrent_runs') end
if tonumber(ARGV[6]) >= 0 and tokens >= tonumber(ARGV[6]) then
  table.insert(refused, 'tokens_per_day')
end
if ARGV[8] == '1' and over(ARGV[5], research) then table.insert(refused, 'research_per_day') end
if #refused == 0 then
  runs = redis.call('INCR', KEYS[1])
  redis.call('EXPIRE', KEYS[1], ARGV[9])
  if ARGV[8] == '1' then
    research = redis.call('INCR', KEYS[2])
    redis.call('EXPIRE', KEYS[2], ARGV[10])
  end
  redis.call('ZADD', KEYS[4], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[2]))
  running = running + 1
end
return {runs, research, tokens, running, table.concat(refused, ',')}
"""

# KEYS: slots. ARGV: now_ms, lease_ms, run_id. The set lives as long as its newest lease.
_HOLD = """
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""


class RedisCounters:
    def __init__(self, url: str) -> None:
        self.url = url
        self._clients = LoopClients(url)

    @property
    def redis(self) -> Any:
        return self._clients.get()

    def _keys(self, owner: str, now: float) -> list[str]:
        minute, day = window_start(now, MINUTE), window_start(now, DAY)
        base = f"{KEY_PREFIX}:{owner}"
        return [f"{base}:runs:{minute}", f"{base}:research:{day}", f"{base}:tokens:{day}", base]

    async def admit(
        self, owner: str, run_id: uuid.UUID, caps: Caps, research: bool
    ) -> tuple[list[str], Counted]:
        now = clock()

        def arg(limit: int | None) -> int:
            return -1 if limit is None else limit

        reply = await self.redis.eval(
            _ADMIT,
            4,
            *self._keys(owner, now),
            int(now * 1000),
            _lease_seconds() * 1000,
            str(run_id),
            arg(caps.runs_per_minute),
            arg(caps.research_per_day),
            arg(caps.tokens_per_day),
            arg(caps.concurrent_runs),
            1 if research else 0,
            MINUTE * 2,
            DAY * 2,
        )
        runs, research_today, tokens, running, refused = reply
        counted = Counted(int(runs), int(research_today), int(tokens), int(running), now)
        text = refused.decode() if isinstance(refused, bytes) else str(refused)
        return [name for name in text.split(",") if name], counted

    async def hold(self, owner: str, run_id: uuid.UUID) -> None:
        slots = self._keys(owner, clock())[3]
        now_ms = int(clock() * 1000)
        await self.redis.eval(_HOLD, 1, slots, now_ms, _lease_seconds() * 1000, str(run_id))

    async def release(self, owner: str, run_id: uuid.UUID) -> None:
        await self.redis.zrem(self._keys(owner, clock())[3], str(run_id))

    async def charge(self, owner: str, tokens: int) -> int:
        key = self._keys(owner, clock())[2]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incrby(key, tokens)
            pipe.expire(key, DAY * 2)
            total, _ = await pipe.execute()
        return int(total)

    async def counted(self, owner: str) -> Counted:
        now = clock()
        runs, research, tokens, slots = self._keys(owner, now)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(runs)
            pipe.get(research)
            pipe.get(tokens)
            pipe.zcount(slots, int(now * 1000), "+inf")
            values = await pipe.execute()
        runs_now, research_now, tokens_now, running = (int(value or 0) for value in values)
        return Counted(runs_now, research_now, tokens_now, running, now)


# --- The database ----------------------------------------------------------------------------

LOCK = "lock"


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _counts_now(owner: str, now: float) -> Counted:
    minute, day = window_start(now, MINUTE), window_start(now, DAY)
    values = dict(
        QuotaCounter.objects.filter(owner_key=owner)
        .filter(
            Q(name="runs", window=minute)
            | Q(name="research", window=day)
            | Q(name="tokens", window=day)
        )
        .values_list("name", "value")
    )
    running = QuotaSlot.objects.filter(owner_key=owner, lease_until__gte=_utc(now)).count()
    return Counted(
        values.get("runs", 0), values.get("research", 0), values.get("tokens", 0), running, now
    )


def _add(owner: str, name: str, window: int, seconds: int, amount: int) -> None:
    """Add ``amount`` to a counter, creating it (an atomic UPDATE; the INSERT ignores a row a
    concurrent writer made first)."""
    QuotaCounter.objects.bulk_create(
        [
            QuotaCounter(
                owner_key=owner,
                name=name,
                window=window,
                value=0,
                expires_at=_utc(window + seconds * 2),
            )
        ],
        ignore_conflicts=True,
    )
    QuotaCounter.objects.filter(owner_key=owner, name=name, window=window).update(
        value=F("value") + amount
    )


def _lock_owner(owner: str) -> None:
    """Serialize the owner's admissions: lock its lock row (SQLite's IMMEDIATE transaction
    holds the write lock already)."""
    QuotaCounter.objects.bulk_create(
        [
            QuotaCounter(
                owner_key=owner,
                name=LOCK,
                window=0,
                value=0,
                expires_at=datetime(9999, 1, 1, tzinfo=UTC),
            )
        ],
        ignore_conflicts=True,
    )
    QuotaCounter.objects.select_for_update().get(owner_key=owner, name=LOCK, window=0)


def _admit_now(
    owner: str, run_id: uuid.UUID, caps: Caps, research: bool
) -> tuple[list[str], Counted]:
    now = clock()
    with transaction.atomic():
        _lock_owner(owner)
        QuotaSlot.objects.filter(owner_key=owner, lease_until__lt=_utc(now)).delete()
        QuotaCounter.objects.filter(owner_key=owner, expires_at__lt=_utc(now)).delete()
        counted = _counts_now(owner, now)
        refused = refusals(caps, counted, research)
        if refused:
            return refused, counted
        _add(owner, "runs", window_start(now, MINUTE), MINUTE, 1)
        if research:
            _add(owner, "research", window_start(now, DAY), DAY, 1)
        QuotaSlot.objects.create(
            run_id=run_id, owner_key=owner, lease_until=_utc(now + _lease_seconds())
        )
        return [], _counts_now(owner, now)


def _hold_now(owner: str, run_id: uuid.UUID) -> None:
    until = _utc(clock() + _lease_seconds())
    QuotaSlot.objects.update_or_create(
        run_id=run_id, defaults={"owner_key": owner, "lease_until": until}
    )


def _release_now(owner: str, run_id: uuid.UUID) -> None:
    QuotaSlot.objects.filter(run_id=run_id).delete()


def _charge_now(owner: str, tokens: int) -> int:
    now = clock()
    day = window_start(now, DAY)
    with transaction.atomic():
        _add(owner, "tokens", day, DAY, tokens)
        return int(
            QuotaCounter.objects.values_list("value", flat=True).get(
                owner_key=owner, name="tokens", window=day
            )
        )


# A new run waits for its admission before its claim: first in line, as the claim is.
_admit_in_thread = in_database_thread(_admit_now, lane="first")
_hold_in_thread = in_database_thread(_hold_now)
_release_in_thread = in_database_thread(_release_now)
_charge_in_thread = in_database_thread(_charge_now)
_counts_in_thread = in_database_thread(_counts_now)


class DatabaseCounters:
    async def admit(
        self, owner: str, run_id: uuid.UUID, caps: Caps, research: bool
    ) -> tuple[list[str], Counted]:
        return await _admit_in_thread(owner, run_id, caps, research)

    async def hold(self, owner: str, run_id: uuid.UUID) -> None:
        await _hold_in_thread(owner, run_id)

    async def release(self, owner: str, run_id: uuid.UUID) -> None:
        await _release_in_thread(owner, run_id)

    async def charge(self, owner: str, tokens: int) -> int:
        return await _charge_in_thread(owner, tokens)

    async def counted(self, owner: str) -> Counted:
        return await _counts_in_thread(owner, clock())


_counters: dict[str, Counters] = {}


def get_counters() -> Counters:
    """The backend for the current settings (Redis with REDIS_URL), one per URL."""
    url = settings.REDIS_URL
    counters = _counters.get(url)
    if counters is None:
        counters = _counters[url] = RedisCounters(url) if url else DatabaseCounters()
    return counters
