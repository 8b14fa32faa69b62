"""The native protocol (DESIGN.md §5): every wire event as it is, one ``data:`` line each, with
an ``id: <run_id>:<seq>`` line for ``Last-Event-ID`` resume."""

from __future__ import annotations

import uuid

from agentsite.errors import AgentSiteError
from agentsite.runs.events import WireEvent, error_event
from agentsite.web.protocols.base import sse_block


class NativeEncoder:
    headers: dict[str, str] = {}

    def __init__(self, run_id: uuid.UUID) -> None:
        self.run_id = run_id

    def opening(self) -> bytes:
        return b""

    def encode(self, seq: int, event: WireEvent) -> bytes:
        return sse_block(event, f"{self.run_id}:{seq}").encode()

    def failure(self, error: AgentSiteError) -> bytes:
        return sse_block(
            error_event(error.message, None, status=error.status, code=error.code)
        ).encode()

    def closing(self) -> bytes:
        return b""
