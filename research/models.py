"""The knowledge base (``Document``) and the stored research runs (``Report``)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from agentsite.models import ANONYMOUS_OWNER, TokenUsage


def content_hash(title: str, body: str) -> str:
    """What makes two imports of a document "the same": its title and text, not its mtime."""
    return hashlib.sha256(f"{title}\0{body}".encode()).hexdigest()


class Document(models.Model):
    """One text of the local knowledge base, searched with the database's full-text search.

    The search index is not a Django field: on SQLite it is the FTS5 table
    ``research_document_fts`` kept in step by triggers, on PostgreSQL the generated
    ``search_vector`` column with a GIN index (migration 0002). Django remakes a SQLite table to
    alter most of its columns, which drops its triggers; a migration that alters this model
    must run 0002's trigger SQL again.
    """

    title = models.CharField(max_length=300)
    # Where the text comes from and what a report cites: a URL, a file:// URI, a pydoc: topic.
    source_url = models.CharField(max_length=500, blank=True)
    body = models.TextField()
    content_hash = models.CharField(max_length=64, db_index=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title"]
        constraints = [
            # An import finds its earlier copy by source; documents typed into the admin may
            # have none.
            models.UniqueConstraint(
                fields=["source_url"],
                condition=~Q(source_url=""),
                name="unique_document_source",
            )
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.content_hash = content_hash(self.title, self.body)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "content_hash"}
        super().save(*args, **kwargs)


class ReportStatus(models.TextChoices):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class Report(TokenUsage):
    """One research run: the plan, every search with its summary and sources, the report.

    Written as the run goes, so a run that fails keeps what it had done (status ``failed``,
    ``error`` saying why). ``searches`` holds one object per planned search: ``index, query,
    reason, status`` (pending, running, completed, no_results, failed), ``summary``,
    ``sources`` (``number, title, url``), ``error`` and ``duration_ms``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner_key = models.CharField(max_length=160, default=ANONYMOUS_OWNER)
    query = models.TextField()
    status = models.CharField(
        max_length=16, choices=ReportStatus.choices, default=ReportStatus.RUNNING, db_index=True
    )
    backend = models.CharField(max_length=32, blank=True)
    model = models.CharField(max_length=100, blank=True)
    plan = models.JSONField(default=list, blank=True)
    searches = models.JSONField(default=list, blank=True)
    short_summary = models.TextField(blank=True)
    markdown_report = models.TextField(blank=True)
    follow_up_questions = models.JSONField(default=list, blank=True)
    # Every source the report cites, numbered as in its text: ``number, title, url``.
    sources = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    # Milliseconds per stage: planning_ms, searching_ms, writing_ms, total_ms.
    timings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner_key", "-created_at"], name="report_owner_recent")]

    def __str__(self) -> str:
        return f"{self.query[:60]} ({self.status})"
