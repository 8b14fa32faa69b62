"""The audit log of staff actions (DESIGN.md §10): who read, exported, deleted or decided what.

Imported by ``agentsite.models``, so Django registers it with the app's other models. Rows are
written by ``agentsite.governance.audit.record`` only and never changed: the admin shows them to
superusers with no add, change or delete. They hold ids and counts, never content, so erasing an
owner's data leaves them in place.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    # A staff page that shows content: a conversation's transcript, one item, a research report.
    TRANSCRIPT_VIEWED = "transcript_viewed"
    REPORT_VIEWED = "report_viewed"
    EXPORTED = "exported"
    # Conversations deleted (admin purge, delete page, "delete selected"; manage.py purge_sessions).
    PURGED = "purged"
    APPROVAL_DECIDED = "approval_decided"
    OWNER_EXPORTED = "owner_exported"
    OWNER_ERASED = "owner_erased"
    LEGAL_HOLD_PLACED = "legal_hold_placed"
    LEGAL_HOLD_RELEASED = "legal_hold_released"


class AuditEntry(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    # "staff:<username>" in the admin, "cli:<os user>" for manage.py commands.
    actor = models.CharField(max_length=160)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    # What kind of rows the action touched ("conversation", "item", "report", "approval",
    # "owner"), their ids (the first AUDIT_MAX_IDS) and how many there were.
    target_type = models.CharField(max_length=32)
    target_ids = models.JSONField(default=list, blank=True)
    target_count = models.PositiveIntegerField(default=0)
    # Whose data it was, when the rows belong to one owner; ``details["owners"]`` otherwise.
    owner_key = models.CharField(max_length=160, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target_type}"
