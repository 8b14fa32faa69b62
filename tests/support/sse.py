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
        assert not any(line.startswith("event:") for line in lines), "no `event:` lines allowed"
        # Clients such as httpx-sse hand a block without data to the application as an empty
        # event: every block must carry one event's data; retry and comments ride along.
        data_lines = [line for line in lines if line.startswith("data: ")]
        assert len(data_lines) == 1, f"one data line per block: {block!r}"
        assert all(line.startswith((":", "retry:", "id: ", "data: ")) for line in lines), block
        events.append(json.loads(data_lines[0].removeprefix("data: ")))
    return events
