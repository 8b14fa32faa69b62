"""The agents this site serves, declared by the agent apps and looked up by URL slug."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agents import Agent
from agents.memory.session_settings import SessionSettings
from django.conf import settings

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class AgentSpec:
    """An agent as mounted at ``/{slug}/`` (HTTP) and ``ws/{slug}/`` (WebSocket)."""

    slug: str
    agent: Agent[Any]
    description: str = ""
    # Items of history a run sends to the model (None: all). SESSION_HISTORY_LIMITS overrides it.
    history_limit: int | None = None

    def __post_init__(self) -> None:
        if not SLUG_PATTERN.match(self.slug):
            raise ValueError(f"agent slug {self.slug!r} must match {SLUG_PATTERN.pattern}")

    def session_settings(self) -> SessionSettings:
        """What a run's session reads: the latest N items only, so the model input of a long
        conversation stops growing while the whole history stays stored.

        The operator's ``SESSION_HISTORY_LIMITS`` wins over the code's ``history_limit``; a
        limit of 0 or less there means "no limit" for that agent.
        """
        limits: dict[str, int] = settings.SESSION_HISTORY_LIMITS
        limit = limits.get(self.slug, self.history_limit)
        return SessionSettings(limit=limit if limit is not None and limit > 0 else None)


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
