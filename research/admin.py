"""Staff views of the knowledge base (edit documents, search them as research does) and of the
stored reports (read-only records)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from agentsite.governance.audit_admin import AuditedReadsAdmin
from agentsite.models import AuditAction
from research.models import Document, Report
from research.search import rank_documents

ADMIN_SEARCH_LIMIT = 200


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "source_url", "length", "updated_at")
    search_fields = ("title", "source_url")
    search_help_text = "Title or source, plus the full-text search research uses."
    date_hierarchy = "created_at"
    fields = ("title", "source_url", "body", "content_hash", "created_at", "updated_at")
    readonly_fields = ("content_hash", "created_at", "updated_at")
    list_per_page = 50

    @admin.display(description="characters")
    def length(self, obj: Document) -> int:
        return len(obj.body)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Document], search_term: str
    ) -> tuple[QuerySet[Document], bool]:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            ids = [hit.document_id for hit in rank_documents(search_term, ADMIN_SEARCH_LIMIT)]
            found = found | queryset.filter(pk__in=ids)
        return found, may_have_duplicates

    def save_model(
        self, request: HttpRequest, obj: Document, form: ModelForm, change: bool
    ) -> None:
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(Report)
class ReportAdmin(AuditedReadsAdmin):
    """What each research run planned, found, wrote and cost; failed runs keep their progress."""

    audit_action = AuditAction.REPORT_VIEWED
    audit_target = "report"

    list_display = ("created_at", "short_query", "owner_key", "status", "backend", "total_tokens")
    list_filter = ("status", "backend", ("created_at", admin.DateFieldListFilter))
    search_fields = ("id", "query", "owner_key", "error")
    date_hierarchy = "created_at"
    readonly_fields = (
        "id",
        "owner_key",
        "query",
        "status",
        "error",
        "backend",
        "model",
        "short_summary",
        "report_text",
        "follow_up_questions",
        "searches_table",
        "source_list",
        "requests",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "timings",
        "created_at",
        "finished_at",
    )
    fields = readonly_fields

    @admin.display(description="query", ordering="query")
    def short_query(self, obj: Report) -> str:
        return Truncator(obj.query).chars(80)

    @admin.display(description="markdown report")
    def report_text(self, obj: Report) -> str:
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', obj.markdown_report)

    @admin.display(description="searches")
    def searches_table(self, obj: Report) -> str:
        rows = (
            (
                search.get("index"),
                search.get("query"),
                search.get("status"),
                ", ".join(f"[{source['number']}]" for source in search.get("sources") or []),
                search.get("error") or Truncator(search.get("summary") or "").chars(300),
            )
            for search in obj.searches
        )
        return format_html(
            "<table><tr><th>#</th><th>query</th><th>status</th><th>sources</th>"
            "<th>summary / error</th></tr>{}</table>",
            format_html_join(
                "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows
            ),
        )

    @admin.display(description="sources")
    def source_list(self, obj: Report) -> str:
        rows = ((source["number"], source["title"], source["url"]) for source in obj.sources)
        return format_html("<ul>{}</ul>", format_html_join("", "<li>[{}] {} — {}</li>", rows))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
