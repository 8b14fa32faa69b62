"""Request and response bodies of the research API."""

from __future__ import annotations

from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from agentsite.web.schemas import UsageOut


class ResearchBody(Schema):
    query: str = Field(
        description="What to research (or send it as ?query=)",
        examples=["How do Python context managers work?"],
    )
    on_disconnect: Literal["cancel", "continue"] | None = Field(
        default=None,
        description="When the client goes away: cancel the run (default) or let it finish so "
        "it can be resumed",
    )


class SourceOut(Schema):
    number: int
    title: str
    url: str


class ReportOut(Schema):
    """The FastAPI app's report object, plus the stored report's id and its sources."""

    short_summary: str
    markdown_report: str
    follow_up_questions: list[str]
    report_id: str
    sources: list[SourceOut]


class ResearchErrorOut(Schema):
    success: bool = False
    error: str
    code: str | None = None
    # The stored (failed) report, when the run got far enough to create one.
    report_id: str | None = None


class ReportSummaryOut(Schema):
    report_id: str = Field(description="The report's id, named as in every research answer")
    id: str = Field(description="The same id under its first name, kept for existing clients")
    query: str
    status: str
    short_summary: str
    error: str
    search_count: int
    source_count: int
    created_at: str
    finished_at: str | None


class ReportDetailOut(ReportSummaryOut):
    backend: str
    model: str
    plan: list[dict[str, Any]]
    searches: list[dict[str, Any]]
    markdown_report: str
    follow_up_questions: list[str]
    sources: list[SourceOut]
    usage: UsageOut
    timings: dict[str, int]
    success: bool = True


class ReportListOut(Schema):
    reports: list[ReportSummaryOut]
    page: int
    page_size: int
    total: int
    has_more: bool
    success: bool = True
