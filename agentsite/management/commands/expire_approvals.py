"""Reject, as expired, every tool call that waited longer than APPROVAL_TIMEOUT_SECONDS."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand

from agentsite.runs.approvals import expire_all_overdue


class Command(BaseCommand):
    help = (
        "Reject tool calls nobody approved within APPROVAL_TIMEOUT_SECONDS and let their runs "
        "finish (the model is told why). Reads of the run, decisions and new messages do the "
        "same lazily; run this from cron so a run nobody looks at does not stay paused."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = asyncio.run(self._expire())
        self.stdout.write(f"Expired the approvals of {count} run(s); they have finished.")

    @staticmethod
    async def _expire() -> int:
        resumed = await expire_all_overdue()
        # The runs resume in this process: wait for them before the event loop goes.
        for live in resumed:
            await live.done.wait()
        return len(resumed)
