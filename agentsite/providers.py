"""Model-provider selection (DESIGN.md §3): the SDK's OpenAI provider, or the offline model."""

from __future__ import annotations

from functools import cache

from agents import set_tracing_disabled
from agents.models.interface import ModelProvider
from agents.models.openai_provider import OpenAIProvider
from django.conf import settings
from openai import AsyncOpenAI

from agentsite.offline import OFFLINE_MODEL_NAME, OfflineProvider

PROVIDERS = ("openai", "offline")
APIS = ("responses", "chat_completions")


def provider_name() -> str:
    name = settings.MODEL_PROVIDER.strip().lower()
    if name not in PROVIDERS:
        raise ValueError(f"MODEL_PROVIDER must be one of {PROVIDERS}, not {name!r}")
    return name


def is_offline() -> bool:
    return provider_name() == "offline"


def model_name_for(agent_slug: str) -> str:
    """The model name a run of this agent asks for (per-agent override, else AGENT_MODEL)."""
    if is_offline():
        return OFFLINE_MODEL_NAME
    return settings.AGENT_MODEL_OVERRIDES.get(agent_slug, settings.AGENT_MODEL)


@cache
def get_model_provider() -> ModelProvider:
    """The provider every run uses; built once per process (it owns an HTTP client pool)."""
    if is_offline():
        return OfflineProvider(delay=settings.OFFLINE_MODEL_DELAY)
    api = settings.OPENAI_API.strip().lower()
    if api not in APIS:
        raise ValueError(f"OPENAI_API must be one of {APIS}, not {api!r}")
    client = AsyncOpenAI(
        api_key=settings.OPENAI_API_KEY or "not-set",
        base_url=settings.OPENAI_BASE_URL,
        timeout=settings.OPENAI_TIMEOUT,
        max_retries=settings.OPENAI_MAX_RETRIES,
    )
    return OpenAIProvider(openai_client=client, use_responses=api == "responses")


def configure_sdk() -> None:
    """Process-wide SDK settings, applied once at start-up.

    Tracing exports to OpenAI's servers; with no key (or on a closed network) each export would
    stall and log errors, so it is off unless a real key is configured.
    """
    set_tracing_disabled(not settings.OPENAI_API_KEY)


def reset_provider_cache(*, setting: str, **_: object) -> None:
    """Drop the cached provider when a test overrides a setting it is built from."""
    if setting in {
        "MODEL_PROVIDER",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_API",
        "OPENAI_TIMEOUT",
        "OPENAI_MAX_RETRIES",
        "OFFLINE_MODEL_DELAY",
    }:
        get_model_provider.cache_clear()
