"""Quotas and rate limits per owner (DESIGN.md §10): who may start a run now, and what is left.

Every run of every transport is admitted here, by ``admit_run`` in ``start_run``
(``agentsite.runs.service``), before its conversation is claimed: runs per minute, concurrent
runs, tokens per day and research runs per day; a refusal is ``QuotaExceeded`` (429, with
``Retry-After`` and the ``X-RateLimit-*`` headers of ``quota_headers``). An admitted run holds a
concurrent-run slot until it ends however it ends (``RunQuota.attach``: released when its task
ends, or lapsing with its lease if the process dies), and its tokens are charged as each model
response arrives (``TokenMeter``, an SDK ``RunHooks``): the response that crosses the day's
budget lets the current turn finish and then stops the run (``run_cancelled`` with
``cancelled_by`` ``quota:tokens_per_day``); work with more model calls after any response (a
pipeline's next step, ``RunWork.ends_with_a_final_response``) stops at that response. A run
paused for approval holds no slot; resumed, it holds one again (``resume_counted``), over the
limit if need be, since a person decided it.

Limits are the QUOTA_* settings unless the owner has a ``QuotaOverride`` (read at most every
OVERRIDE_CACHE_SECONDS per process). An owner with no limit at all is not counted.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from agents import Agent, RunContextWrapper, RunHooks
from agents.items import ModelResponse
from django.conf import settings
from django.core.checks import CheckMessage, Error

from agentsite.conversations.dbthread import in_database_thread
from agentsite.errors import QuotaExceeded
from agentsite.governance.cost import check_prices
from agentsite.governance.quota_counters import (
    DAY,
    MINUTE,
    Caps,
    Counted,
    get_counters,
    window_start,
)
from agentsite.governance.quota_models import QuotaOverride

if TYPE_CHECKING:  # the run service imports this module
    from agentsite.runs.hub import LiveRun
    from agentsite.runs.work import RunWork

logger = logging.getLogger(__name__)
OVERRIDE_CACHE_SECONDS = 5.0
# Owners whose override (or its absence) a process remembers at most: every browser is one.
OVERRIDE_CACHE_SIZE = 10_000
TOKEN_BUDGET_STOP = "quota:tokens_per_day"
# Seconds a client refused for concurrent runs is told to wait (a run may end any moment).
CONCURRENT_RETRY_SECONDS = 1
# How each limit is named in the X-RateLimit-* headers and in messages.
HEADER_NAMES = {
    "runs_per_minute": "runs-per-minute",
    "concurrent_runs": "concurrent-runs",
    "tokens_per_day": "tokens-per-day",
    "research_per_day": "research-per-day",
}
MESSAGES = {
    "runs_per_minute": "too many runs started this minute",
    "concurrent_runs": "too many runs running at once",
    "tokens_per_day": "today's token budget is used up",
    "research_per_day": "today's research runs are used up",
}


@dataclass(frozen=True)
class Limits:
    """One owner's limits (None: no limit)."""

    runs_per_minute: int | None = None
    concurrent_runs: int | None = None
    tokens_per_day: int | None = None
    research_per_day: int | None = None
    conversation_bytes: int | None = None

    @property
    def counted(self) -> bool:
        """Whether the owner's runs are counted at all (conversation bytes are not a count)."""
        return any(value is not None for value in self.caps.__dict__.values())

    @property
    def caps(self) -> Caps:
        return Caps(
            self.runs_per_minute, self.concurrent_runs, self.tokens_per_day, self.research_per_day
        )

    def stored_bytes_cap(self) -> int:
        """The bytes a conversation of this owner may hold: MAX_CONVERSATION_BYTES, or the
        owner's QUOTA_CONVERSATION_BYTES budget when smaller (the one place the two meet)."""
        cap = int(settings.MAX_CONVERSATION_BYTES)
        return cap if self.conversation_bytes is None else min(cap, self.conversation_bytes)


def default_limits() -> Limits:
    return Limits(
        runs_per_minute=settings.QUOTA_RUNS_PER_MINUTE,
        concurrent_runs=settings.QUOTA_CONCURRENT_RUNS,
        tokens_per_day=settings.QUOTA_TOKENS_PER_DAY,
        research_per_day=settings.QUOTA_RESEARCH_PER_DAY,
        conversation_bytes=settings.QUOTA_CONVERSATION_BYTES,
    )


_overrides: dict[str, tuple[float, QuotaOverride | None]] = {}


@functools.partial(in_database_thread, lane="first")
def _read_override(owner: str) -> QuotaOverride | None:
    """On a database thread, first in line (a new run's admission waits for it): not Django's
    async ORM, whose call under a sync caller (a test client, an admin view) would wait for that
    caller's thread from a run's own context (agentsite.conversations.dbthread)."""
    return QuotaOverride.objects.filter(owner_key=owner).first()


async def limits_for(owner: str) -> Limits:
    """The owner's limits: its override's values where set, the settings' elsewhere."""
    now = time.monotonic()
    cached = _overrides.get(owner)
    if cached is None or cached[0] < now:
        override = await _read_override(owner)
        if len(_overrides) >= OVERRIDE_CACHE_SIZE:
            _overrides.clear()
        cached = _overrides[owner] = (now + OVERRIDE_CACHE_SECONDS, override)
    limits, override = default_limits(), cached[1]
    if override is None:
        return limits
    changes = {
        spec.name: getattr(override, spec.name)
        for spec in fields(Limits)
        if getattr(override, spec.name) is not None
    }
    return Limits(**{**limits.__dict__, **changes})


def forget_cached_overrides() -> None:
    """Read the overrides afresh (the admin saved one; tests)."""
    _overrides.clear()


def reset_seconds(limit: str, now: float) -> int | None:
    """Seconds until ``limit``'s window starts again; None for concurrent runs."""
    seconds = {"runs_per_minute": MINUTE, "tokens_per_day": DAY, "research_per_day": DAY}.get(limit)
    if seconds is None:
        return None
    return window_start(now, seconds) + seconds - int(now)


def budget(limits: Limits, counted: Counted) -> dict[str, dict[str, int | None]]:
    """Each limit that is set: ``limit``, ``used``, ``remaining``, ``reset`` (seconds)."""
    used = {
        "runs_per_minute": counted.runs_this_minute,
        "concurrent_runs": counted.running,
        "tokens_per_day": counted.tokens_today,
        "research_per_day": counted.research_today,
    }
    report: dict[str, dict[str, int | None]] = {}
    for name, value in used.items():
        limit = getattr(limits, name)
        if limit is not None:
            report[name] = {
                "limit": limit,
                "used": value,
                "remaining": max(limit - value, 0),
                "reset": reset_seconds(name, counted.now),
            }
    return report


def quota_headers(limits: Limits, counted: Counted) -> dict[str, str]:
    """``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (seconds), each a list of
    ``name=value`` per limit that is set, e.g. ``runs-per-minute=10, tokens-per-day=100000``."""
    report = budget(limits, counted)
    if not report:
        return {}

    def header(key: str) -> str:
        return ", ".join(
            f"{HEADER_NAMES[name]}={entry[key]}"
            for name, entry in report.items()
            if entry[key] is not None
        )

    headers = {
        "X-RateLimit-Limit": header("limit"),
        "X-RateLimit-Remaining": header("remaining"),
        "X-RateLimit-Reset": header("reset"),
    }
    return {name: value for name, value in headers.items() if value}


class TokenMeter(RunHooks[Any]):
    """Charges a run's tokens to its owner's day as each model response arrives; the response
    that reaches the budget stops the run after the current turn."""

    def __init__(self, owner: str, limit: int | None, already: int = 0) -> None:
        self.owner = owner
        self.limit = limit
        # Tokens of the run charged before (a resumed run's usage includes its earlier part).
        self.charged = already
        self.live: LiveRun | None = None
        # Whether a response without tool calls ends the run (RunWork.ends_with_a_final_response).
        self.final_response_ends_run = True

    async def on_llm_end(
        self, context: RunContextWrapper[Any], agent: Agent[Any], response: ModelResponse
    ) -> None:
        more_turns = asks_for_tools(response) or not self.final_response_ends_run
        await self.charge(response.usage.total_tokens, more_turns=more_turns)

    async def settle(self, total_tokens: int) -> None:
        """At the run's end: charge what the responses did not report (a response a cancel cut
        short, counted by estimate)."""
        await self.charge(total_tokens - self.charged)

    async def charge(self, tokens: int, more_turns: bool = False) -> None:
        """Count ``tokens``; past the budget, a run whose response asks for ``more_turns``
        (tool calls to answer) stops once the tools have run (the response that ends the run
        anyway is left to end it)."""
        if tokens <= 0:
            return
        self.charged += tokens
        try:
            today = await get_counters().charge(self.owner, tokens)
        except Exception as exc:  # the run goes on: a lost count is better than a lost answer
            logger.warning("could not count tokens of %s: %s", self.owner, exc)
            return
        over = self.limit is not None and today >= self.limit
        if over and more_turns and self.live is not None:
            self.live.cancel("after_turn", TOKEN_BUDGET_STOP)


# Output items that the SDK answers in a next turn (the hosted tools run inside the response).
NEXT_TURN_ITEMS = frozenset(
    {"function_call", "computer_call", "local_shell_call", "shell_call", "custom_tool_call"}
)


def asks_for_tools(response: ModelResponse) -> bool:
    """Whether the run goes on after this response: it calls tools (handoffs are calls too)."""
    return any(getattr(item, "type", None) in NEXT_TURN_ITEMS for item in response.output)


class RunQuota:
    """An admitted run's quota: its headers, its slot, its token meter."""

    def __init__(
        self, owner: str, run_id: uuid.UUID, limits: Limits, counted: Counted | None
    ) -> None:
        self.owner = owner
        self.run_id = run_id
        self.limits = limits
        self.counting = counted is not None
        self.headers = quota_headers(limits, counted) if counted is not None else {}
        self.meter = TokenMeter(owner, limits.tokens_per_day) if self.counting else None

    async def give_back(self) -> None:
        """The run did not start after all (its conversation was busy, …): free its slot."""
        if not self.counting:
            return
        try:
            await get_counters().release(self.owner, self.run_id)
        except Exception as exc:  # the slot lapses with its lease; the start's error matters
            logger.warning("could not release the quota slot of run %s: %s", self.run_id, exc)

    def attach(self, live: LiveRun, work: RunWork) -> None:
        """Follow the run: its headers, its tokens (hooks of agent work), its slot's lease, and
        at its end the slot's release and the tokens the responses did not report."""
        live.headers.update(self.headers)
        if self.meter is None or live.task is None:
            return
        meter = self.meter
        meter.live = live
        meter.final_response_ends_run = work.ends_with_a_final_response
        work.hooks = meter
        keeper = _keep(self._keep_slot())

        def ended(_: object) -> None:
            keeper.cancel()
            _keep(self._end(meter, work, keeper))

        live.task.add_done_callback(ended)

    async def _keep_slot(self) -> None:
        every = max(settings.RUN_LEASE_SECONDS / 3, 0.5)
        while True:
            await asyncio.sleep(every)
            try:
                await get_counters().hold(self.owner, self.run_id)
            except Exception as exc:  # the next tick tries again
                logger.warning("could not renew the quota slot of run %s: %s", self.run_id, exc)

    async def _end(self, meter: TokenMeter, work: RunWork, keeper: asyncio.Task[None]) -> None:
        # A renewal under way when the run ended must not land after the release.
        await asyncio.gather(keeper, return_exceptions=True)
        try:
            await get_counters().release(self.owner, self.run_id)
            await meter.settle(work.usage.total_tokens)
        except Exception as exc:  # the slot lapses with its lease
            logger.warning("could not release the quota slot of run %s: %s", self.run_id, exc)


# The quota tasks of runs (renewals, ends), kept alive until they finish.
_tasks: set[asyncio.Task[None]] = set()


def _keep(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    task = asyncio.get_running_loop().create_task(work, context=contextvars.Context())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


async def admit_run(owner: str, run_id: uuid.UUID, *, research: bool = False) -> RunQuota:
    """Admit a new run of ``owner`` or raise ``QuotaExceeded`` (429)."""
    limits = await limits_for(owner)
    if not limits.counted:
        return RunQuota(owner, run_id, limits, None)
    refused, counted = await get_counters().admit(owner, run_id, limits.caps, research)
    if refused:
        raise refusal(refused, limits, counted)
    return RunQuota(owner, run_id, limits, counted)


async def resume_counted(owner: str, run_id: uuid.UUID, already_tokens: int) -> RunQuota:
    """A run resumed after approval: counted again (its slot taken whatever the limit)."""
    limits = await limits_for(owner)
    if not limits.counted:
        return RunQuota(owner, run_id, limits, None)
    counters = get_counters()
    await counters.hold(owner, run_id)
    quota = RunQuota(owner, run_id, limits, await counters.counted(owner))
    assert quota.meter is not None
    quota.meter.charged = already_tokens
    return quota


def refusal(refused: list[str], limits: Limits, counted: Counted) -> QuotaExceeded:
    waits = [reset_seconds(name, counted.now) or CONCURRENT_RETRY_SECONDS for name in refused]
    reasons = "; ".join(f"{MESSAGES[name]} (limit {getattr(limits, name)})" for name in refused)
    return QuotaExceeded(
        f"Quota exceeded: {reasons}; try again in {max(waits)} s",
        limit=refused[0],
        retry_after=max(waits),
        headers=quota_headers(limits, counted),
    )


def check_quota_settings(**kwargs: object) -> list[CheckMessage]:
    """QUOTA_* are unset or ≥ 0; MODEL_PRICES is a price table (agentsite.E019)."""
    problems = [
        f"{name} must be a whole number ≥ 0 (or unset: no limit), not {value!r}"
        for name, value in (
            (f"QUOTA_{spec.name.upper()}", getattr(settings, f"QUOTA_{spec.name.upper()}"))
            for spec in fields(Limits)
        )
        if value is not None and (not isinstance(value, int) or value < 0)
    ]
    problems += check_prices(settings.MODEL_PRICES)
    return [Error(problem, id="agentsite.E019") for problem in problems]
