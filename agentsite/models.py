"""Conversations and their items: what the SDK's Session protocol stores, as Django models."""

from __future__ import annotations

import uuid
from datetime import datetime

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

ANONYMOUS_OWNER = "anonymous"


class TokenUsage(models.Model):
    """The model-usage counters a row adds up: one run's, a conversation's runs', a research
    report's. ``usage`` is them as the API reports them (``UsageOut``)."""

    USAGE_FIELDS = ("requests", "input_tokens", "output_tokens", "total_tokens")

    requests = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)

    class Meta:
        abstract = True

    @property
    def usage(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.USAGE_FIELDS}


class ConversationQuerySet(models.QuerySet["Conversation"]):
    @staticmethod
    def live_lease(now: datetime | None = None) -> Q:
        """A run holds the conversation: it names one and its lease has not expired (an
        expired lease belongs to a process that died mid-run). The one definition of it."""
        return Q(active_run__isnull=False, run_lease_until__gte=now or timezone.now())

    def leased(self, now: datetime | None = None) -> ConversationQuerySet:
        """The conversations a run holds right now."""
        return self.filter(self.live_lease(now))

    def idle(self, now: datetime | None = None) -> ConversationQuerySet:
        """The conversations no live run holds (free, or held by an expired lease)."""
        return self.exclude(self.live_lease(now))

    def with_run_live(self, now: datetime | None = None) -> ConversationQuerySet:
        """Each conversation with ``run_live``: whether a run holds it (``live_lease``)."""
        # django-stubs refuse an annotation named like an attribute of the model; run_live is
        # declared on Conversation (no column) so that the rows of this queryset type-check.
        return self.annotate(  # type: ignore[no-redef]
            run_live=models.ExpressionWrapper(
                self.live_lease(now), output_field=models.BooleanField()
            )
        )


class Conversation(TokenUsage):
    """One session of one agent for one owner.

    ``owner_key`` is the namespace a session id lives in ("anonymous", "user:<pk>", ...), so two
    owners may both use session id "default" without seeing each other's history.
    """

    agent = models.CharField(max_length=64)
    session_id = models.CharField(max_length=128)
    owner_key = models.CharField(max_length=160, default=ANONYMOUS_OWNER)
    title = models.CharField(max_length=200, blank=True)
    item_count = models.PositiveIntegerField(default=0)
    # UTF-8 bytes of the items' stored JSON: what MAX_CONVERSATION_BYTES bounds.
    stored_bytes = models.PositiveBigIntegerField(default=0)
    # Next position to hand out; only ever grows, so positions are unique even after pops.
    next_position = models.PositiveBigIntegerField(default=0)
    # The branch the model sees and new items go to, and how many branches there are
    # (agentsite.branch_models; 1 = the main branch, which every conversation has).
    active_branch = models.PositiveIntegerField(default=1)
    branch_count = models.PositiveIntegerField(default=1)
    # Every run of the conversation adds to it: a wider column than one run's.
    requests = models.PositiveBigIntegerField(default=0)
    # The run that currently holds this conversation, with a lease it renews while running.
    active_run = models.UUIDField(null=True, blank=True)
    run_lease_until = models.DateTimeField(null=True, blank=True)
    # Kept out of every purge and erase, and the owner's own delete (README, "Privacy").
    legal_hold = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = ConversationQuerySet.as_manager()
    # Only on rows from ConversationQuerySet.with_run_live() (an annotation, not a column).
    run_live: bool

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

    # No index of its own: the unique (conversation, position) index serves lookups by
    # conversation, and with a second index PostgreSQL may pick that one and sort a long
    # conversation instead of reading its newest items straight off the composite index.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    position = models.BigIntegerField()
    # The conversation's branch the item belongs to (1 = the main branch).
    branch = models.PositiveIntegerField(default=1)
    data = models.TextField()
    role = models.CharField(max_length=32, blank=True)
    item_type = models.CharField(max_length=64, blank=True)
    # The assistant text a client had seen when its run was stopped mid-reply.
    interrupted = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        # By the foreign key's column: ordering by the relation would join the conversation
        # table and sort by its own default ordering first.
        ordering = ["conversation_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "position"], name="unique_item_position"
            )
        ]
        # The history read of every turn: one branch's items in order, straight off the index.
        indexes = [
            models.Index(fields=["conversation", "branch", "position"], name="item_branch_position")
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.position} {self.role or self.item_type}"


class RunStatus(models.TextChoices):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # The process running it died (its lease expired before it finished).
    INTERRUPTED = "interrupted"
    # Paused until a person approves or rejects a tool call (``ToolApproval``); its SDK state
    # is in ``paused_state`` and its conversation stays held for it.
    AWAITING_APPROVAL = "awaiting_approval"


class RunQuerySet(models.QuerySet["Run"]):
    def lease_expired(self, now: datetime | None = None) -> RunQuerySet:
        """Runs whose lease ran out: the process running them stopped renewing it (died), unless
        they ended. The Run side of ``ConversationQuerySet.live_lease``."""
        return self.filter(lease_until__lt=now or timezone.now())

    def interrupt(self) -> int:
        """Mark these runs interrupted if they are still "running": their process died."""
        return self.filter(status=RunStatus.RUNNING).update(
            status=RunStatus.INTERRUPTED,
            error="The server running this run stopped before it finished",
            finished_at=timezone.now(),
        )

    async def ainterrupt(self) -> int:
        return await sync_to_async(self.interrupt)()


class Run(TokenUsage):
    """The ledger entry of one agent run: outcome, usage, timings, who cancelled it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    agent = models.CharField(max_length=64)
    owner_key = models.CharField(max_length=160, default=ANONYMOUS_OWNER)
    session_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(
        max_length=20, choices=RunStatus.choices, default=RunStatus.RUNNING, db_index=True
    )
    model = models.CharField(max_length=100, blank=True)
    # Parts of input_tokens and output_tokens, kept in the ledger (not part of ``usage``).
    cached_tokens = models.PositiveBigIntegerField(default=0)
    reasoning_tokens = models.PositiveBigIntegerField(default=0)
    event_count = models.PositiveIntegerField(default=0)
    first_event_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    cancelled_by = models.CharField(max_length=160, blank=True)
    # Renewed while the run is alive; a running run whose lease has expired was interrupted.
    lease_until = models.DateTimeField(null=True, blank=True)
    on_disconnect = models.CharField(max_length=16, default="cancel")
    # The SDK's RunState (``RunState.to_string``) of a run awaiting approval; emptied when it
    # resumes. The client's run context is in it too.
    paused_state = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["owner_key", "agent", "-started_at"], name="run_owner")]

    def __str__(self) -> str:
        return f"{self.agent} run {self.id} ({self.status})"


class RunEventBatch(models.Model):
    """Consecutive wire events of a run (``first_seq``..``last_seq``) as one JSON array, kept so
    a client can resume the stream from any process.

    One row per write of the run driver (every FLUSH_SECONDS or FLUSH_BATCH events), not one
    per event: a fast stream of deltas costs a row or two. A batch retried after a failed write
    may overlap an earlier one (it only ever grows at the end), so readers skip seqs they have.
    Used when no Redis is configured; with ``REDIS_URL`` the log is a Redis stream instead.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="event_batches")
    first_seq = models.PositiveIntegerField()
    last_seq = models.PositiveIntegerField()
    data = models.TextField()

    class Meta:
        # By the foreign key's column, not the relation (which would join and sort by Run's).
        ordering = ["run_id", "last_seq"]
        constraints = [
            models.UniqueConstraint(fields=["run", "last_seq"], name="unique_run_event_batch")
        ]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.first_seq}-{self.last_seq}"


class ApiKey(models.Model):
    """A bearer key for the JSON/SSE/WebSocket API. Only a SHA-256 of the key is stored: keys
    are long random strings, so a fast hash is enough and lookups stay one indexed query."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def owner_key(self) -> str:
        return f"key:{self.pk}"


# Its own module (the approvals of tool calls); imported here so Django registers it.
from agentsite.approval_models import Decision, ToolApproval  # noqa: E402
from agentsite.branch_models import ConversationBranch  # noqa: E402
from agentsite.feedback_models import Feedback  # noqa: E402
from agentsite.governance.audit_models import AuditAction, AuditEntry  # noqa: E402
from agentsite.governance.quota_models import QuotaCounter, QuotaOverride, QuotaSlot  # noqa: E402

__all__ = [
    "ANONYMOUS_OWNER",
    "ApiKey",
    "AuditAction",
    "AuditEntry",
    "Conversation",
    "ConversationBranch",
    "ConversationItem",
    "Decision",
    "Feedback",
    "QuotaCounter",
    "QuotaOverride",
    "QuotaSlot",
    "Run",
    "RunEventBatch",
    "RunStatus",
    "ToolApproval",
]
