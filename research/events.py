"""A research run's wire events, beyond the shared ``stream_complete`` and ``error``.

``research_progress`` events carry a ``stage`` (planning, planned, search_started,
search_finished, writing), a human-readable ``message`` and the ``report_id``; the ``report``
event carries the finished report. Keys may be added, never renamed or removed.
"""

from __future__ import annotations

import uuid
from typing import Any

from agentsite.runs.events import WireEvent


def progress(report_id: uuid.UUID, stage: str, message: str, **extra: Any) -> WireEvent:
    return {
        "type": "research_progress",
        "stage": stage,
        "message": message,
        "report_id": str(report_id),
        **extra,
    }


def planned(report_id: uuid.UUID, searches: list[dict[str, Any]]) -> WireEvent:
    return progress(
        report_id,
        "planned",
        f"Will perform {len(searches)} searches",
        total=len(searches),
        searches=[{"query": search["query"], "reason": search["reason"]} for search in searches],
    )


def search_started(report_id: uuid.UUID, search: dict[str, Any], total: int) -> WireEvent:
    """``index`` is the search's place in the plan, 1-based."""
    return progress(
        report_id,
        "search_started",
        f"Searching {search['index']}/{total}: {search['query']}",
        index=search["index"],
        total=total,
        query=search["query"],
    )


def search_finished(
    report_id: uuid.UUID, search: dict[str, Any], finished: int, total: int
) -> WireEvent:
    """``completed`` counts the searches finished so far (n of ``total``), whatever their
    ``status``: completed, no_results or failed (with ``error``)."""
    return progress(
        report_id,
        "search_finished",
        f"Finished {finished}/{total} searches",
        index=search["index"],
        completed=finished,
        total=total,
        query=search["query"],
        status=search["status"],
        sources=len(search["sources"]),
        error=search["error"],
    )


def report_event(report_id: uuid.UUID, report: dict[str, Any]) -> WireEvent:
    """The finished report: short_summary, markdown_report, follow_up_questions, sources."""
    return {"type": "report", "report_id": str(report_id), **report}
