"""The run context every run carries, and its form inside a stored (paused) ``RunState``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunContext:
    """The SDK run context: who asked (tools and the session see it) and the client's context."""

    owner: str
    data: dict[str, object] = field(default_factory=dict)


def context_to_json(context: Any) -> dict[str, Any]:
    """``RunState.to_string``'s ``context_serializer``: the SDK stores mappings only."""
    if isinstance(context, RunContext):
        return {"owner": context.owner, "data": context.data}
    return {"owner": "", "data": {}}


def context_from_json(data: Mapping[str, Any]) -> RunContext:
    """``RunState.from_string``'s ``context_deserializer``."""
    return RunContext(owner=str(data.get("owner", "")), data=dict(data.get("data") or {}))
