"""Parse raw Server-Sent Events bytes the way a browser's EventSource does."""

from __future__ import annotations

import json
from typing import Any


def parse_sse(raw: bytes) -> list[dict[str, Any]]:
    """Every ``data:`` event as JSON; asserts the framing rules of the wire contract."""
    text = raw.decode()
    assert text.endswith("\n\n"), "stream must end with a complete event"
    events = []
    for block in text.split("\n\n"):
        if not block:
            continue
        lines = block.split("\n")
        data_lines = [line for line in lines if line.startswith("data: ")]
        assert not any(line.startswith("event:") for line in lines), "no `event:` lines allowed"
        if not data_lines:  # comment / heartbeat / retry-only block
            assert all(line.startswith((":", "retry:", "id:")) for line in lines), block
            continue
        assert len(data_lines) == 1, f"one data line per event: {block!r}"
        events.append(json.loads(data_lines[0].removeprefix("data: ")))
    return events
