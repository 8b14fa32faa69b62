"""``manage.py export_owner_data OWNER [--output FILE]``: one owner's data as a JSON bundle."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from agentsite.governance.audit import command_actor
from agentsite.governance.owner_data import OWNER_FORMS, export_owner_data, parse_owner


class Command(BaseCommand):
    help = (
        "Write everything stored for one owner (conversations with their items, runs with the "
        "events still kept, research reports, tool approvals) as one JSON document. The export "
        "is recorded in the audit log."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("owner", help=f"the owner as the run ledger shows it: {OWNER_FORMS}")
        parser.add_argument("--output", metavar="FILE", help="write to FILE, not standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            owner = parse_owner(options["owner"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        bundle = export_owner_data(owner, command_actor())
        text = json.dumps(bundle, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as output:
                output.write(text + "\n")
            self.stderr.write(
                f"Exported {len(bundle['conversations'])} conversation(s), "
                f"{len(bundle['runs'])} run(s) and {len(bundle['reports'])} report(s) of {owner} "
                f"to {options['output']}."
            )
        else:
            self.stdout.write(text)
