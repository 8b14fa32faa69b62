"""Model-provider selection (DESIGN.md §3): the SDK's OpenAI provider, or the offline model."""

from __future__ import annotations

from functools import cache, partial
from urllib.parse import urlsplit

from agents import set_tracing_disabled, set_tracing_export_api_key
from agents.models.interface import ModelProvider
from django.conf import settings

from agentsite.providers.offline import OFFLINE_MODEL_NAME, OfflineProvider
from agentsite.providers.openai_client import LoopProvider, streaming_client

PROVIDERS = ("openai", "offline")
APIS = ("responses", "chat_completions")


def provider_name() -> str:
    """One of PROVIDERS: the value is checked at start-up (agentsite.checks)."""
    return settings.MODEL_PROVIDER.strip().lower()


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
    return LoopProvider(
        partial(
            streaming_client,
            settings.OPENAI_HTTP_CLIENT.strip().lower(),
            api_key=settings.OPENAI_API_KEY or "not-set",
            base_url=settings.OPENAI_BASE_URL,
            timeout=settings.OPENAI_TIMEOUT,
            max_retries=settings.OPENAI_MAX_RETRIES,
        ),
        use_responses=api == "responses",
    )


def tracing_export_enabled() -> bool:
    """Whether the SDK may send traces (every prompt and reply of a run) to OpenAI.

    The SDK exports to OpenAI's servers whatever ``OPENAI_BASE_URL`` says. A user who points
    the runs at a local or third-party server has not asked for their conversations to go to
    OpenAI (and with no OpenAI key each export fails and logs an error), so export is on only
    when the runs go to OpenAI's own endpoint with a key — or when ``AGENT_TRACING=true``.
    """
    if settings.AGENT_TRACING is not None:
        return bool(settings.AGENT_TRACING)
    if is_offline() or not settings.OPENAI_API_KEY:
        return False
    host = urlsplit(settings.OPENAI_BASE_URL or "https://api.openai.com/v1").hostname or ""
    return host == "api.openai.com"


def configure_sdk() -> None:
    """Process-wide SDK settings: applied at start-up, and again when a test changes them."""
    enabled = tracing_export_enabled()
    set_tracing_disabled(not enabled)
    if enabled and settings.OPENAI_API_KEY:
        # The key from settings (it may come from .env, which the SDK's exporter cannot see).
        set_tracing_export_api_key(settings.OPENAI_API_KEY)


def reset_provider_cache(*, setting: str, **_: object) -> None:
    """Drop the cached provider when a test overrides a setting it is built from."""
    if setting in {
        "MODEL_PROVIDER",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_API",
        "OPENAI_TIMEOUT",
        "OPENAI_MAX_RETRIES",
        "OPENAI_HTTP_CLIENT",
        "OFFLINE_MODEL_DELAY",
    }:
        get_model_provider.cache_clear()
    if setting in {"MODEL_PROVIDER", "OPENAI_API_KEY", "OPENAI_BASE_URL", "AGENT_TRACING"}:
        configure_sdk()
