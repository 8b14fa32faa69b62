"""``manage.py check_provider [--agent SLUG] [--request]``: is the model provider usable?

Prints what the runs would use (provider, base URL, API flavour, model), then tries it: lists
the models, looks for the configured one, and checks that the server speaks the chosen API —
none of which is billed. ``--request`` also sends a one-word request (billed, a few tokens).
Says in plain words what is wrong and exits non-zero, so it fits a deployment script.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agentsite.providers.check import check_provider, configured_base_url
from agentsite.providers.selection import is_offline, model_name_for, provider_name


class Command(BaseCommand):
    help = "Check that the configured model provider is reachable and serves the model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--agent", default="assistant", help="whose model to check (default: assistant)"
        )
        parser.add_argument(
            "--request",
            action="store_true",
            help="also send a tiny model request (billed: a few tokens)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        agent = options["agent"]
        self.stdout.write(f"provider: {provider_name()}")
        if not is_offline():
            self.stdout.write(f"base URL: {configured_base_url()}")
            self.stdout.write(f"API:      {settings.OPENAI_API}")
            self.stdout.write(f"API key:  {'set' if settings.OPENAI_API_KEY else 'not set'}")
        self.stdout.write(f"model:    {model_name_for(agent)}")
        status = asyncio.run(check_provider(agent, probe_api=True, request=options["request"]))
        for note in status.notes:
            self.stdout.write(f"ok: {note}")
        if is_offline():
            self.stdout.write(
                self.style.SUCCESS(
                    "OK: the built-in offline model answers (no key is needed); set "
                    "OPENAI_API_KEY to use OpenAI"
                )
            )
            return
        if not status.ok:
            raise CommandError(status.error or "the provider check failed")
        self.stdout.write(self.style.SUCCESS("OK: the provider is reachable and has the model"))
