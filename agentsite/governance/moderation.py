"""What staff read and take away in the admin: transcript turns, JSON exports, daily usage.

Plain functions over the models, so the admin views stay input/output only and the shapes can
be tested without a browser.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from agentsite.conversations.items import item_text
from agentsite.models import Conversation, ConversationItem, Run, RunStatus

HANDOFF_PREFIX = "transfer_to_"


@dataclass(frozen=True)
class Turn:
    """One stored item as a person reads it: who (``kind``), what (``text``), the raw JSON."""

    position: int
    kind: str  # user | assistant | system | tool call | tool output | handoff | reasoning | other
    text: str
    raw: str
    interrupted: bool
    # The conversation's branch the item is on (1 = main; agentsite.conversations.branches).
    branch: int = 1


def turn_kind(item: dict[str, Any], handoff_calls: set[str]) -> str:
    """The label of an item; handoffs are function calls the SDK names ``transfer_to_*``."""
    kind = item.get("type") or "message"
    if kind == "message" or "role" in item:
        role = str(item.get("role") or "assistant")
        return "system" if role == "developer" else role
    if kind == "function_call":
        if str(item.get("name", "")).startswith(HANDOFF_PREFIX):
            handoff_calls.add(str(item.get("call_id")))
            return "handoff"
        return "tool call"
    if kind == "function_call_output":
        return "handoff" if str(item.get("call_id")) in handoff_calls else "tool output"
    if kind == "reasoning":
        return "reasoning"
    return "other"


def transcript(conversation: Conversation) -> list[Turn]:
    handoff_calls: set[str] = set()
    turns = []
    # Branch by branch: a fork's copies of earlier turns read as that branch's start.
    for row in conversation.items.order_by("branch", "position"):
        decoded = _decode(row.data)
        item = decoded if isinstance(decoded, dict) else {"type": "other", "value": decoded}
        turns.append(
            Turn(
                position=row.position,
                kind=turn_kind(item, handoff_calls),
                text=item_text(item),
                raw=json.dumps(item, indent=2, ensure_ascii=False),
                interrupted=row.interrupted,
                branch=row.branch,
            )
        )
    return turns


EXPORT_FIELDS = (
    *("id", "agent", "session_id", "owner_key", "title", "item_count", "requests"),
    *("input_tokens", "output_tokens", "total_tokens", "created_at", "updated_at"),
)
EXPORT_RUN_FIELDS = (
    *("id", "status", "model", "requests", "input_tokens", "output_tokens", "total_tokens"),
    *("event_count", "first_event_ms", "latency_ms", "error", "cancelled_by"),
    *("started_at", "finished_at"),
)
EXPORT_FEEDBACK_FIELDS = (
    *("position", "rating", "comment", "owner_key", "run_id", "model"),
    *("created_at", "updated_at"),
)


def export_conversation(conversation: Conversation) -> dict[str, Any]:
    """The conversation, its items (as the SDK stored them, branch by branch), its runs and the
    feedback on its replies, JSON-ready."""
    items: QuerySet[ConversationItem] = conversation.items.order_by("branch", "position")
    return {
        **{name: _jsonable(getattr(conversation, name)) for name in EXPORT_FIELDS},
        "items": [
            {
                "position": row.position,
                "branch": row.branch,
                "role": row.role,
                "item_type": row.item_type,
                "interrupted": row.interrupted,
                "created_at": row.created_at.isoformat(),
                "data": _decode(row.data),
            }
            for row in items
        ],
        "runs": [
            {name: _jsonable(getattr(run, name)) for name in EXPORT_RUN_FIELDS}
            for run in conversation.runs.order_by("started_at")
        ],
        # The owner's ratings of its replies: what they said is theirs to take away too.
        "feedback": [
            {name: _jsonable(getattr(rating, name)) for name in EXPORT_FEEDBACK_FIELDS}
            for rating in conversation.feedback.order_by("position")
        ],
    }


@dataclass(frozen=True)
class UsageDay:
    day: date
    runs: int
    failed: int
    cancelled: int
    total_tokens: int


def usage_per_day(days: int, runs: QuerySet[Run] | None = None) -> list[UsageDay]:
    """Runs, tokens and failures for each of the last ``days`` days (UTC), oldest first,
    including days with no runs so a chart's gaps are real."""
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    rows = (
        (Run.objects.all() if runs is None else runs)
        .filter(started_at__date__gte=first)
        .annotate(day=TruncDate("started_at"))
        .values("day")
        .annotate(
            runs=Count("id"),
            failed=Count("id", filter=Q(status__in=[RunStatus.FAILED, RunStatus.INTERRUPTED])),
            cancelled=Count("id", filter=Q(status=RunStatus.CANCELLED)),
            total_tokens=Sum("total_tokens"),
        )
    )
    by_day: dict[date, Mapping[str, Any]] = {row["day"]: row for row in rows}
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = by_day.get(day, {})
        result.append(
            UsageDay(
                day=day,
                runs=row.get("runs", 0),
                failed=row.get("failed", 0),
                cancelled=row.get("cancelled", 0),
                total_tokens=row.get("total_tokens") or 0,
            )
        )
    return result


def _decode(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return {"type": "undecodable", "text": data}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is not None and not isinstance(value, str | int | float | bool):
        return str(value)
    return value


def usage_by_agent_and_model(days: int, runs: QuerySet[Run] | None = None) -> list[dict[str, Any]]:
    """Runs and tokens of the last ``days`` days (UTC) for each agent and model, the costliest
    first: which agent, on which model, spends the tokens."""
    first = timezone.now().date() - timedelta(days=days - 1)
    rows = (
        (Run.objects.all() if runs is None else runs)
        .filter(started_at__date__gte=first)
        .values("agent", "model")
        .annotate(
            runs=Count("id"),
            failed=Count("id", filter=Q(status__in=[RunStatus.FAILED, RunStatus.INTERRUPTED])),
            cancelled=Count("id", filter=Q(status=RunStatus.CANCELLED)),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            total_tokens=Sum("total_tokens"),
        )
        .order_by("-total_tokens", "agent", "model")
    )
    return [{**row, "model": row["model"] or "(unknown)"} for row in rows]
