"""The agents this site serves, declared by the agent apps and looked up by URL slug."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agents import Agent

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class AgentSpec:
    """An agent as mounted at ``/{slug}/`` (HTTP) and ``ws/{slug}/`` (WebSocket)."""

    slug: str
    agent: Agent[Any]
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not SLUG_PATTERN.match(self.slug):
            raise ValueError(f"agent slug {self.slug!r} must match {SLUG_PATTERN.pattern}")


_registry: dict[str, AgentSpec] = {}


def register(spec: AgentSpec) -> AgentSpec:
    existing = _registry.get(spec.slug)
    if existing is not None and existing is not spec:
        raise ValueError(f"an agent is already mounted at {spec.slug!r}")
    _registry[spec.slug] = spec
    return spec


def get_spec(slug: str) -> AgentSpec | None:
    return _registry.get(slug)


def all_specs() -> list[AgentSpec]:
    return list(_registry.values())
