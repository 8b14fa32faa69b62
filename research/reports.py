"""Stored reports as a service: owner-scoped lookups, their JSON shapes, and their sources."""

from __future__ import annotations

import re
import uuid
from typing import Any

from agentsite.errors import NotFound
from agentsite.runs.eventlog import forget_run_events
from research.models import Report

_SOURCES_HEADING = re.compile(r"^#{1,6}\s*(?:\d+\.\s*)?(?:sources|references)\b", re.I | re.M)


async def get_report(report_id: uuid.UUID, owner: str) -> Report:
    """The report, if ``owner`` owns it; ``NotFound`` otherwise (ids are never probed)."""
    report = await Report.objects.filter(pk=report_id, owner_key=owner).afirst()
    if report is None:
        raise NotFound("Report not found")
    return report


def forget_report_events(sender: type[Report], instance: Report, **_: Any) -> None:
    """Receiver of ``post_delete`` for ``Report``: a deleted report takes its run's event log
    (the run's id is the report's), which holds the report's text; the ledger row stays, with
    metadata only. Inside the deleting transaction, so a failure rolls the deletion back."""
    forget_run_events([instance.pk])


async def delete_report(report_id: uuid.UUID, owner: str) -> None:
    """Delete the owner's report (its text, searches and sources, and with them its run's
    events: ``forget_report_events``); ``NotFound`` otherwise."""
    deleted, _ = await Report.objects.filter(pk=report_id, owner_key=owner).adelete()
    if not deleted:
        raise NotFound("Report not found")


async def list_reports(owner: str, page: int, page_size: int) -> tuple[list[Report], int]:
    """One page of the owner's reports, newest first, and how many there are in all."""
    reports = Report.objects.filter(owner_key=owner).order_by("-created_at", "id")
    start = (page - 1) * page_size
    rows = [report async for report in reports[start : start + page_size]]
    return rows, await reports.acount()


def report_summary(report: Report) -> dict[str, Any]:
    """``report_id`` is the name every research answer and event uses; ``id`` is kept beside
    it for clients written against the first version of this listing."""
    return {
        "report_id": str(report.id),
        "id": str(report.id),
        "query": report.query,
        "status": report.status,
        "short_summary": report.short_summary,
        "error": report.error,
        "search_count": len(report.searches),
        "source_count": len(report.sources),
        "created_at": report.created_at.isoformat(),
        "finished_at": report.finished_at.isoformat() if report.finished_at else None,
    }


def report_detail(report: Report) -> dict[str, Any]:
    return {
        **report_summary(report),
        "backend": report.backend,
        "model": report.model,
        "plan": report.plan,
        "searches": report.searches,
        "markdown_report": report.markdown_report,
        "follow_up_questions": report.follow_up_questions,
        "sources": report.sources,
        "usage": report.usage,
        "timings": report.timings,
    }


def cited_sources(searches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sources of the searches that produced a summary, by number, each once."""
    found = {
        source["number"]: source
        for search in searches
        if search.get("status") == "completed"
        for source in search.get("sources") or []
    }
    return [found[number] for number in sorted(found)]


def source_line(source: dict[str, Any]) -> str:
    """A Markdown list item for a source: ``- [n] title — url``, a link for web pages."""
    number, title, url = source["number"], source.get("title") or "", source.get("url") or ""
    if url.startswith(("http://", "https://")):
        return f"- [{number}] [{title or url}]({url})"
    return f"- [{number}] {title} — {url}" if title and url else f"- [{number}] {title or url}"


def with_sources_section(markdown: str, sources: list[dict[str, Any]]) -> str:
    """``markdown`` with every source listed: those the writer left out are appended, to its
    own Sources section if it has one (a writer puts it last), else under a new one."""
    missing = [
        source for source in sources if (source.get("url") or source["title"]) not in markdown
    ]
    if not missing:
        return markdown
    body = markdown.rstrip()
    if _SOURCES_HEADING.search(body):
        return body + "\n" + "\n".join(source_line(source) for source in missing) + "\n"
    listed = "\n".join(source_line(source) for source in sources)
    return f"{body}\n\n## Sources\n\n{listed}\n"
