"""Conversations and their items: what the SDK's Session protocol stores, as Django models."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

ANONYMOUS_OWNER = "anonymous"


class Conversation(models.Model):
    """One session of one agent for one owner.

    ``owner_key`` is the namespace a session id lives in ("anonymous", "user:<pk>", ...), so two
    owners may both use session id "default" without seeing each other's history.
    """

    agent = models.CharField(max_length=64)
    session_id = models.CharField(max_length=128)
    owner_key = models.CharField(max_length=160, default=ANONYMOUS_OWNER)
    title = models.CharField(max_length=200, blank=True)
    item_count = models.PositiveIntegerField(default=0)
    # Next position to hand out; only ever grows, so positions are unique even after pops.
    next_position = models.PositiveBigIntegerField(default=0)
    requests = models.PositiveBigIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    # The run that currently holds this conversation, with a lease it renews while running.
    active_run = models.UUIDField(null=True, blank=True)
    run_lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner_key", "agent", "session_id"], name="unique_session_per_owner_agent"
            )
        ]
        indexes = [models.Index(fields=["agent", "-updated_at"], name="conversation_agent_recent")]

    def __str__(self) -> str:
        return f"{self.agent}/{self.session_id}"


class ConversationItem(models.Model):
    """One SDK input item (message, tool call, tool output, ...) at a position in a conversation.

    ``data`` holds the item as JSON text, exactly as ``json.dumps`` wrote it: text rather than a
    JSON column because PostgreSQL's jsonb rejects ``\\u0000`` and reorders keys, and the store
    must give back what it was given.
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="items")
    position = models.BigIntegerField()
    data = models.TextField()
    role = models.CharField(max_length=32, blank=True)
    item_type = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["conversation", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "position"], name="unique_item_position"
            )
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.position} {self.role or self.item_type}"
