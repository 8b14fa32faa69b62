"""``GET /me/usage``: the caller's quotas (limit, used, remaining, reset) and what its runs
used and cost today, per agent and model (``agentsite.governance.quotas``, ``.cost``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from agentsite.conversations.dbthread import in_database_thread
from agentsite.governance.cost import total_cost, usage_breakdown
from agentsite.governance.quota_counters import get_counters
from agentsite.governance.quotas import budget, limits_for
from agentsite.models import Run
from agentsite.web.schemas import error_responses
from agentsite.web.security import request_owner

router = Router(tags=["usage"])


class QuotaLimitOut(Schema):
    limit: int
    used: int
    remaining: int
    reset: int | None = None  # seconds until the window starts again (none: concurrent runs)


class UsageByModelOut(Schema):
    agent: str
    model: str
    runs: int
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    total_tokens: int
    estimated_cost: float  # USD, at MODEL_PRICES; models with no price count 0
    unpriced_runs: int


class UsageTodayOut(Schema):
    """The caller's runs since 00:00 UTC, from the run ledger."""

    runs: int
    total_tokens: int
    estimated_cost: float
    by_agent_and_model: list[UsageByModelOut]


class CallerUsageOut(Schema):
    owner: str
    limits: dict[str, QuotaLimitOut]
    conversation_bytes: int
    today: UsageTodayOut
    success: bool = True


@router.get(
    "/usage",
    response={200: CallerUsageOut, **error_responses(401, 503)},
    summary="The caller's quotas (limit, used, remaining, reset) and today's usage and cost",
    operation_id="me_usage",
)
async def usage(request: HttpRequest) -> CallerUsageOut:
    owner = request_owner(request).key
    limits = await limits_for(owner)
    report: dict[str, Any] = {}
    if limits.counted:
        report = budget(limits, await get_counters().counted(owner))
    rows = await _today(owner)
    return CallerUsageOut(
        owner=owner,
        limits={name: QuotaLimitOut(**entry) for name, entry in report.items()},
        conversation_bytes=limits.stored_bytes_cap(),
        today=UsageTodayOut(
            runs=sum(row["runs"] for row in rows),
            total_tokens=sum(row["total_tokens"] for row in rows),
            estimated_cost=total_cost(rows),
            by_agent_and_model=[UsageByModelOut(**row) for row in rows],
        ),
    )


@in_database_thread
def _today(owner: str) -> list[dict[str, Any]]:
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    runs = Run.objects.filter(owner_key=owner, started_at__gte=midnight)
    return usage_breakdown(runs, ["agent", "model"])
