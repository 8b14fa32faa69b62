"""Tool calls waiting for a person's decision, and the decisions taken (DESIGN.md §9).

Imported by ``agentsite.models``, so Django registers it with the app's other models. One row
per tool call a run paused on (or that a standing "always" approval let through): the request
(tool, arguments, call id, when, until when) and the decision (approved, rejected or expired,
why, by whom, when). Rows outlive the decision: they are the record of who allowed what.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Decision(models.TextChoices):
    PENDING = "", "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    # Nobody decided within APPROVAL_TIMEOUT_SECONDS: a rejection the server took.
    EXPIRED = "expired"


class ToolApprovalQuerySet(models.QuerySet["ToolApproval"]):
    def pending(self) -> ToolApprovalQuerySet:
        return self.filter(decision=Decision.PENDING)

    def overdue(self, now: datetime | None = None) -> ToolApprovalQuerySet:
        """Pending past their deadline: to be expired (rejected) by whoever looks first."""
        return self.pending().filter(expires_at__lt=now or timezone.now())

    def standing(self, conversation_id: int, tool_name: str) -> ToolApprovalQuerySet:
        """ "Always" approvals of ``tool_name`` in the conversation: later calls need no one."""
        return self.filter(
            Q(run__conversation_id=conversation_id),
            tool_name=tool_name,
            decision=Decision.APPROVED,
            always=True,
        )


class ToolApproval(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey("agentsite.Run", on_delete=models.CASCADE, related_name="approvals")
    tool_name = models.CharField(max_length=200)
    # The call's arguments as the model wrote them (a JSON text, not necessarily valid).
    arguments = models.TextField(blank=True)
    call_id = models.CharField(max_length=200)
    requested_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    decision = models.CharField(
        max_length=16, choices=Decision.choices, default=Decision.PENDING, blank=True
    )
    reason = models.TextField(blank=True)
    # An owner key ("key:3", "user:7", "anonymous"), "staff:<username>", or "server" (expiry,
    # a standing approval).
    decided_by = models.CharField(max_length=160, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # Approve this tool for the rest of the conversation.
    always = models.BooleanField(default=False)

    objects = ToolApprovalQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["decision", "requested_at"], name="approval_inbox")]

    def __str__(self) -> str:
        return f"{self.tool_name} ({self.get_decision_display()})"
