"""``manage.py purge_sessions --older-than 30d [--agent chat] [--dry-run]``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agentsite.conversations.retention import (
    delete_conversations,
    parse_duration,
    stale_conversations,
)
from agentsite.governance.audit import command_actor, record
from agentsite.governance.audit_models import AuditAction


class Command(BaseCommand):
    help = (
        "Delete conversations (their items and their runs' events) not updated for a while. "
        "Without --older-than it applies SESSION_RETENTION_DAYS. Conversations with a live run "
        "or under legal hold are never deleted. Each purge is recorded in the audit log."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            metavar="AGE",
            help="age of the last update, e.g. 30d, 12h, 90m (default: SESSION_RETENTION_DAYS)",
        )
        parser.add_argument("--agent", help="only conversations of this agent (its URL slug)")
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be deleted, delete nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        older_than = self._older_than(options["older_than"])
        result = delete_conversations(
            stale_conversations(older_than, options["agent"]), dry_run=options["dry_run"]
        )
        if result.deleted:
            record(
                command_actor(),
                AuditAction.PURGED,
                "conversation",
                [pk for pk, _ in result.deleted],
                [owner for _, owner in result.deleted],
                older_than=options["older_than"] or f"{settings.SESSION_RETENTION_DAYS}d",
                agent=options["agent"] or "",
            )
        verb = "Would purge" if options["dry_run"] else "Purged"
        self.stdout.write(
            f"{verb} {result.conversations} conversation(s) with {result.items} item(s) "
            f"not updated for {older_than}; skipped {result.skipped_live} with a live run"
            f" and {result.skipped_held} under legal hold."
        )

    def _older_than(self, text: str | None) -> timedelta:
        if text is not None:
            try:
                return parse_duration(text)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        days = settings.SESSION_RETENTION_DAYS
        if days is None:
            raise CommandError(
                "Nothing to purge by: pass --older-than (e.g. 30d) or set SESSION_RETENTION_DAYS."
            )
        return timedelta(days=days)
