"""Quotas' tables (DESIGN.md §10): per-owner overrides staff edit in the admin, and the
counters and run slots the quotas keep in the database when there is no Redis.

Imported by ``agentsite.models``, so Django registers them with the app's other models.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

# The owner keys of ``agentsite.web.owners``: an API key, a user, a marked browser, or the
# shared anonymous namespace.
OWNER_KEY = re.compile(r"^(key:\d+|user:\d+|browser:[A-Za-z0-9_-]{1,64}|anonymous)$")
LIMIT_FIELDS = (
    "runs_per_minute",
    "concurrent_runs",
    "tokens_per_day",
    "research_per_day",
    "conversation_bytes",
)


def validate_owner_key(value: str) -> None:
    if not OWNER_KEY.match(value):
        raise ValidationError(
            "An owner as the run ledger shows it: key:<id>, user:<id>, browser:<id> or anonymous"
        )


def _limit(label: str) -> models.PositiveBigIntegerField[int | None, int | None]:
    return models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text=f"{label}; empty: the QUOTA_… setting's default (0 refuses every run)",
    )


class QuotaOverride(models.Model):
    """One owner's limits where they differ from the settings' defaults (empty: the default)."""

    owner_key = models.CharField(
        max_length=160,
        unique=True,
        validators=[validate_owner_key],
        help_text="key:<id> (an API key), user:<id>, browser:<id> or anonymous",
    )
    runs_per_minute = _limit("Runs started per minute")
    concurrent_runs = _limit("Runs running at once")
    tokens_per_day = _limit("Tokens per UTC day")
    research_per_day = _limit("Research runs per UTC day")
    conversation_bytes = _limit(
        "Stored bytes per conversation (never above MAX_CONVERSATION_BYTES)"
    )
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["owner_key"]

    def __str__(self) -> str:
        return f"quota override for {self.owner_key}"


class QuotaCounter(models.Model):
    """A count in a time window (``window`` = the window's start, in seconds since the epoch)
    for one owner: runs started this minute, research runs and tokens this UTC day. Rows of
    past windows are deleted as new ones are written."""

    owner_key = models.CharField(max_length=160)
    name = models.CharField(max_length=32)
    window = models.BigIntegerField()
    value = models.BigIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner_key", "name", "window"], name="quota_counter_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.owner_key} {self.name}@{self.window}: {self.value}"


class QuotaSlot(models.Model):
    """A run counted against its owner's concurrent runs, until it ends or its lease lapses
    (a process that died mid-run)."""

    run_id = models.UUIDField(primary_key=True)
    owner_key = models.CharField(max_length=160, db_index=True)
    lease_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.owner_key} run {self.run_id}"
