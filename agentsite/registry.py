"""The agents this site serves, declared by the agent apps and looked up by URL slug.

Apps declare what they serve in ``AppConfig.ready()`` (``register`` an ``AgentSpec`` for each
agent, ``register_endpoint`` for an API of their own such as research), so the registry is full
as soon as Django is set up: a management command, the ASGI router and the URLconf all read the
same declarations, and none of them has to be imported for another to see them. The transport
(``agentsite.web.api``, ``agentsite.web.routing``) mounts HTTP and WebSocket routes from here.
"""

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


@dataclass(frozen=True)
class AppEndpoint:
    """An app's own API beside the agents' shared routes (research's pipeline), mounted at
    ``/{prefix}`` (a django-ninja ``Router``) and ``ws/{prefix}/`` (a Channels consumer).

    Both are dotted paths, imported only when the routes are mounted: ``ready()`` declares
    them without importing transport code, which may not be importable that early.
    """

    prefix: str
    router: str
    consumer: str | None = None

    def __post_init__(self) -> None:
        if not SLUG_PATTERN.match(self.prefix):
            raise ValueError(f"endpoint prefix {self.prefix!r} must match {SLUG_PATTERN.pattern}")


_registry: dict[str, AgentSpec] = {}
_endpoints: dict[str, AppEndpoint] = {}


def register(spec: AgentSpec) -> AgentSpec:
    """Declare an agent. Declaring the same one again is harmless (``ready()`` may run twice
    in tests); another agent at a taken slug is an error."""
    _check_free(spec.slug, _registry.get(spec.slug) or _endpoints.get(spec.slug), spec)
    _registry[spec.slug] = spec
    return spec


def register_endpoint(endpoint: AppEndpoint) -> AppEndpoint:
    """Declare an app's own API (see ``AppEndpoint``)."""
    taken = _endpoints.get(endpoint.prefix) or _registry.get(endpoint.prefix)
    _check_free(endpoint.prefix, taken, endpoint)
    _endpoints[endpoint.prefix] = endpoint
    return endpoint


def _check_free(slug: str, existing: object, new: object) -> None:
    if existing is not None and existing != new:
        raise ValueError(f"something else is already mounted at {slug!r}")


def get_spec(slug: str) -> AgentSpec | None:
    return _registry.get(slug)


def all_specs() -> list[AgentSpec]:
    return list(_registry.values())


def all_endpoints() -> list[AppEndpoint]:
    return list(_endpoints.values())
