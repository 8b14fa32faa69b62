"""``manage.py erase_owner_data OWNER [--yes] [--dry-run]``: erase everything of one owner."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agentsite.governance.audit import command_actor
from agentsite.governance.owner_data import OWNER_FORMS, erase_owner_data, parse_owner


class Command(BaseCommand):
    help = (
        "Erase everything stored for one owner: conversations and their items, the events, "
        "paused states, error texts and tool-call arguments of their runs (database and Redis), "
        "research reports. The run ledger keeps metadata only. Conversations under legal hold "
        "or with a run in progress are kept and reported. Asks first unless --yes; recorded in "
        "the audit log."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("owner", help=f"the owner as the run ledger shows it: {OWNER_FORMS}")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be erased, erase nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            owner = parse_owner(options["owner"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        actor = command_actor()
        preview = erase_owner_data(owner, actor, dry_run=True)
        if options["dry_run"]:
            self.stdout.write(preview.summary(dry_run=True))
            return
        if not options["yes"]:
            self.stdout.write(preview.summary(dry_run=True))
            answer = input(f"Erase the data of {owner}? This cannot be undone. [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("Nothing erased.")
        self.stdout.write(erase_owner_data(owner, actor).summary())
