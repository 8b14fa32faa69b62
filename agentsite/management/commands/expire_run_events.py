"""``manage.py expire_run_events``: delete the stored events of runs past RUN_EVENTS_TTL_SECONDS."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from agentsite.runs.eventlog import expire_finished_run_events


class Command(BaseCommand):
    help = (
        "Delete the database event batches of runs that ended more than RUN_EVENTS_TTL_SECONDS "
        "ago (servers also do it on their own as runs end; Redis streams expire by themselves)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = expire_finished_run_events()
        self.stdout.write(
            f"Deleted {deleted} event batch(es) of runs that ended more than "
            f"{settings.RUN_EVENTS_TTL_SECONDS} s ago."
        )
