"""Is the configured model provider usable? Checks that cost nothing, said in plain words.

``/health`` and ``manage.py check_provider`` both ask here. Nothing in a check is billed: it
lists the models (``GET {base_url}/models``), looks for the configured model among them, and —
for the command — posts an empty body to the chosen API's endpoint, which a server speaking that
API rejects as invalid (400/422) and any other server answers 404/405. Only
``check_provider --request`` makes a real (tiny, billed) model call.

A check talks to ``OPENAI_BASE_URL`` with its own short-timeout client and no retries, so a
dead provider costs ``/health`` at most ``PROVIDER_CHECK_TIMEOUT`` once per
``PROVIDER_CHECK_TTL``; callers in between share the cached result or the check in flight.
Messages name the URL and the model, never the key.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import openai
from django.conf import settings
from openai import AsyncOpenAI

from agentsite.providers.selection import is_offline, model_name_for, provider_name

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_API_PATHS = {"responses": "/responses", "chat_completions": "/chat/completions"}


@dataclass
class ProviderStatus:
    """What a check found. ``reachable`` is None for the offline model (nothing to reach)."""

    provider: str
    base_url: str | None
    api: str | None
    model: str
    reachable: bool | None
    ok: bool
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    checked_at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def configured_base_url() -> str:
    return (settings.OPENAI_BASE_URL or OPENAI_DEFAULT_BASE_URL).rstrip("/")


def _client() -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=settings.OPENAI_API_KEY or "not-set",
        base_url=configured_base_url(),
        timeout=settings.PROVIDER_CHECK_TIMEOUT,
        max_retries=0,
    )


async def check_provider(
    agent: str = "assistant", *, probe_api: bool = False, request: bool = False
) -> ProviderStatus:
    """Check the provider an agent's runs use; never raises for a provider problem."""
    model = model_name_for(agent)
    if is_offline():
        return ProviderStatus(
            provider=provider_name(), base_url=None, api=None, model=model, reachable=None, ok=True
        )
    api = settings.OPENAI_API.strip().lower()
    base_url = configured_base_url()
    status = ProviderStatus(
        provider=provider_name(),
        base_url=base_url,
        api=api,
        model=model,
        reachable=False,
        ok=False,
    )
    client = _client()
    try:
        try:
            models = [entry.id async for entry in client.models.list()]
        except openai.APIStatusError as exc:
            status.reachable = True
            if exc.status_code not in (404, 405):
                status.error = describe(exc, base_url, model)
                return status
            # Some compatible servers have no model list; the API probe below still tells.
            status.notes.append(f"{base_url}/models is not available (HTTP {exc.status_code})")
            models = []
        status.reachable = True
        if models and model not in models:
            offered = ", ".join(sorted(models)[:10]) + (" …" if len(models) > 10 else "")
            status.error = (
                f"The model {model!r} is not offered by {base_url} (AGENT_MODEL). "
                f"It offers: {offered}"
            )
            return status
        if models:
            status.notes.append(f"the model {model!r} is listed by {base_url}")
        if probe_api or request:
            problem = await _probe_api(client, api, base_url, model)
            if problem:
                status.error = problem
                return status
            status.notes.append(f"{base_url} answers the {api} API")
        if request:
            await _tiny_request(client, api, model)
            status.notes.append(f"a one-word request to {model!r} succeeded")
        status.ok = True
    except openai.APIError as exc:
        status.error = describe(exc, base_url, model)
    finally:
        await client.close()
    return status


async def _probe_api(client: AsyncOpenAI, api: str, base_url: str, model: str) -> str | None:
    """Post an empty body to the API's endpoint: a server that speaks the API rejects it as
    invalid (nothing is run or billed); one that does not has no such route."""
    path = _API_PATHS[api]
    try:
        await client.post(path, cast_to=object, body={})
    except openai.APIStatusError as exc:
        if exc.status_code in (404, 405):
            other = "chat_completions" if api == "responses" else "responses"
            return (
                f"{base_url} does not speak the {api} API (POST {path} answered HTTP "
                f"{exc.status_code}); set OPENAI_API={other} if the server speaks that one"
            )
        if exc.status_code in (401, 403):
            return describe(exc, base_url, model)
    return None


async def _tiny_request(client: AsyncOpenAI, api: str, model: str) -> None:
    if api == "responses":
        await client.responses.create(model=model, input="Say OK.", max_output_tokens=16)
    else:
        await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Say OK."}], max_tokens=5
        )


def describe(exc: openai.APIError, base_url: str, model: str) -> str:
    """A provider failure in plain words, naming the URL and model, never the key."""
    if isinstance(exc, openai.APITimeoutError):
        return f"{base_url} did not answer in time (model {model!r}); is the server up?"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return f"Cannot connect to {base_url} (model {model!r}): {cause}. Check OPENAI_BASE_URL"
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        if code == 401:
            return (
                f"{base_url} refused the API key (HTTP 401, model {model!r}): check OPENAI_API_KEY"
            )
        if code == 403:
            return f"{base_url} does not allow this key to use {model!r} (HTTP 403)"
        if code == 404:
            return f"{base_url} answered HTTP 404 (model {model!r}): is OPENAI_BASE_URL right?"
        if code == 429:
            return f"{base_url} is rate-limiting or out of quota (HTTP 429, model {model!r})"
        return f"{base_url} answered HTTP {code} (model {model!r}): {exc.message}"
    return f"{base_url} failed (model {model!r}): {exc}"


# --- the cached status /health reports -------------------------------------------------------

_cache: dict[tuple[Any, ...], ProviderStatus] = {}
_in_flight: dict[tuple[Any, ...], asyncio.Future[ProviderStatus]] = {}


async def cached_provider_status() -> ProviderStatus:
    """The provider's status, checked at most once per ``PROVIDER_CHECK_TTL`` seconds."""
    if is_offline():
        return await check_provider()
    key = (
        settings.OPENAI_BASE_URL,
        settings.OPENAI_API,
        settings.AGENT_MODEL,
        str(settings.AGENT_MODEL_OVERRIDES),
        hash(settings.OPENAI_API_KEY),
    )
    found = _cache.get(key)
    if found is not None and time.time() - found.checked_at < settings.PROVIDER_CHECK_TTL:
        return found
    pending = _in_flight.get(key)
    if pending is None or pending.get_loop() is not asyncio.get_running_loop():
        pending = asyncio.ensure_future(check_provider())
        _in_flight[key] = pending
        pending.add_done_callback(lambda _: _in_flight.pop(key, None))
    status = await asyncio.shield(pending)
    _cache[key] = status
    return status


def health_summary(status: ProviderStatus) -> dict[str, Any]:
    """The ``provider_status`` object of ``/health``."""
    if status.reachable is None:
        state = "offline"
    elif status.ok:
        state = "ok"
    else:
        state = "unreachable" if not status.reachable else "error"
    return {
        "status": state,
        "reachable": status.reachable,
        "base_url": status.base_url,
        "api": status.api,
        "model": status.model,
        "error": status.error,
        "checked_at": status.checked_at,
    }
