"""What every client protocol is made of: a stream encoder over the run's wire events.

A run is executed once (``agentsite.runs.driver``) and logged once (``agentsite.runs.eventlog``)
as the native wire events of ``agentsite.runs.events``. A protocol only re-encodes those
numbered events for its client library (DESIGN.md §8) and parses its own request body; the
run service gives every protocol resume, cancel, owners and the one-run-per-conversation rule.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from agents import Agent
from agents.handoffs import Handoff

from agentsite.errors import AgentSiteError
from agentsite.runs.events import WireEvent

# One encoder for every event: json.dumps with non-default options builds a new one per call.
JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class StreamEncoder(Protocol):
    """Turns one run's numbered wire events into the bytes of one SSE response.

    Stateful: an encoder belongs to one response, and sees the events in order from the one it
    was built for. ``opening`` goes out before the first event, ``closing`` after the last;
    ``failure`` replaces the rest of the stream when following the run itself failed.
    """

    headers: dict[str, str]

    def opening(self) -> bytes: ...

    def encode(self, seq: int, event: WireEvent) -> bytes: ...

    def failure(self, error: AgentSiteError) -> bytes: ...

    def closing(self) -> bytes: ...


def sse_block(event: Any, event_id: str | None = None) -> str:
    """One SSE event: an optional ``id:`` line and one ``data:`` line."""
    prefix = f"id: {event_id}\n" if event_id is not None else ""
    return f"{prefix}data: {JSON.encode(event)}\n\n"


def parse_arguments(arguments: Any) -> Any:
    """A tool call's JSON arguments as a value (the text itself when it is not JSON)."""
    if not isinstance(arguments, str):
        return arguments
    try:
        return json.loads(arguments or "{}")
    except ValueError:
        return arguments


def output_text(output: Any) -> str:
    """A tool output as text: strings as they are, other values as JSON."""
    return output if isinstance(output, str) else JSON.encode(output)


def handoff_tool_names(agent: Agent[Any]) -> frozenset[str]:
    """The tool names under which the agent graph's models call handoffs: protocols show
    those calls as handoffs, not as tool calls."""
    names: set[str] = set()
    seen: set[int] = set()
    pending: list[Agent[Any]] = [agent]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for target in current.handoffs:
            if isinstance(target, Handoff):
                names.add(target.tool_name)
            elif isinstance(target, Agent):
                names.add(Handoff.default_tool_name(target))
                pending.append(target)
    return frozenset(names)
