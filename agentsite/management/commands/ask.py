"""``manage.py ask AGENT "text" [--session ID]``: one turn in the terminal, streamed.

It goes through the same run service as the HTTP API (``start_run`` + ``LiveRun.follow``), so a
CLI turn is claimed, recorded in the run ledger and stored in the session like any other. CLI
conversations live in their own owner namespace, ``cli`` (``--owner`` picks another, e.g.
``anonymous`` to continue a conversation a keyless HTTP client started).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agentsite.errors import AgentSiteError
from agentsite.registry import all_specs, get_spec
from agentsite.runs.service import RunRequest, start_run

CLI_OWNER = "cli"


class Command(BaseCommand):
    help = "Ask an agent something and stream its answer; exits non-zero if the run fails."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("agent", help="the agent's URL slug, e.g. chat or assistant")
        parser.add_argument("text", help="what to ask")
        parser.add_argument("--session", help="session id, to continue a conversation")
        parser.add_argument(
            "--owner", default=CLI_OWNER, help=f"owner namespace (default: {CLI_OWNER})"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        root = logging.getLogger()
        level = root.level
        if options["verbosity"] < 2:
            # The answer is the output: the run's INFO lines (on stderr) would land in the middle
            # of it on a terminal. Warnings and errors still show; -v 2 shows everything.
            root.setLevel(max(level, logging.WARNING))
        try:
            self._ask(options)
        finally:
            root.setLevel(level)

    def _ask(self, options: dict[str, Any]) -> None:
        spec = get_spec(options["agent"])
        if spec is None:
            known = ", ".join(sorted(s.slug for s in all_specs()))
            raise CommandError(f"No agent {options['agent']!r}; known agents: {known}")
        request = RunRequest(
            spec=spec, input=options["text"], owner=options["owner"], session_id=options["session"]
        )
        last = asyncio.run(self._stream(request))
        kind = last.get("type")
        if kind == "error":
            raise CommandError(f"Run failed: {last.get('message')}")
        if kind not in ("stream_complete", "approval_requested"):
            raise CommandError(f"Run ended without an answer ({kind or 'no events'})")

    async def _stream(self, request: RunRequest) -> dict[str, Any]:
        try:
            live = await start_run(request)
        except AgentSiteError as exc:
            raise CommandError(str(exc)) from exc
        last: dict[str, Any] = {}
        try:
            async for _, event in live.follow():
                self._show(event)
                last = event
        finally:
            if not live.done.is_set():
                live.cancel("immediate", "cli")
                await live.done.wait()
        return last

    def _show(self, event: dict[str, Any]) -> None:
        kind, name = event.get("type"), event.get("name")
        if kind == "raw_response" and event.get("event_type") == "response.output_text.delta":
            self.stdout.write(event["delta"], ending="")
            self.stdout.flush()
        elif kind == "run_item" and name == "tool_called":
            self._note(f"[tool] {event.get('tool_name')}({event.get('tool_arguments')})")
        elif kind == "run_item" and name == "tool_output":
            self._note(f"[tool output] {event.get('output')}")
        elif kind == "run_item" and name == "handoff_occured":
            self._note(f"[handoff] {event.get('previous_agent')} → {event.get('target_agent')}")
        elif kind == "stream_complete":
            usage = event.get("usage") or {}
            self.stdout.write("")
            self._note(
                f"[done] session {event.get('session_id') or '-'}, "
                f"{usage.get('total_tokens', 0)} tokens"
            )
        elif kind == "approval_requested":
            self._note(
                f"[approval needed] {event.get('tool_name')}({event.get('tool_arguments')}): "
                f"approval {event.get('approval_id')} of run {event.get('run_id')}; decide it "
                "with POST /{agent}/runs/{run_id}/approvals or in the admin's Tool approvals"
            )
        elif kind in ("error", "run_cancelled"):
            self.stdout.write("")

    def _note(self, line: str) -> None:
        """A short line about the run, on a line of its own and dimmed on a terminal."""
        self.stdout.write(self.style.HTTP_INFO(line))
