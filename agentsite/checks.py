"""Settings with a fixed set of values, checked once at start-up instead of on every request.

Registered with Django's system-check framework (``manage.py check``, ``runserver`` and every
management command run them) and run again by ``agentsite.asgi`` before it serves, so a server
started straight from the ASGI module (daphne, uvicorn) refuses a misspelt value too. The code
that reads these settings can then trust them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import get_args

from django.conf import settings
from django.core.checks import CheckMessage, Error

from agentsite.providers.openai_client import HTTP_CLIENTS
from agentsite.providers.selection import APIS, PROVIDERS
from agentsite.runs.service import Multitask, OnDisconnect

# Tag of these checks, so agentsite.asgi can run exactly them.
TAG = "agentsite_settings"


def lowered(value: str) -> str:
    return value.strip().lower()


def exact(value: str) -> str:
    return value


# setting → (its values, how the code reads it before comparing). MODEL_PROVIDER, OPENAI_API
# and OPENAI_HTTP_CLIENT are read case- and space-insensitively; the run policies as written.
ENUMERATED: Mapping[str, tuple[Iterable[str], Callable[[str], str]]] = {
    "MODEL_PROVIDER": (PROVIDERS, lowered),
    "OPENAI_API": (APIS, lowered),
    "OPENAI_HTTP_CLIENT": (HTTP_CLIENTS, lowered),
    "SSE_ON_DISCONNECT": (get_args(OnDisconnect), exact),
    "WS_ON_DISCONNECT": (get_args(OnDisconnect), exact),
    "MULTITASK": (get_args(Multitask), exact),
    # settings.py lower-cases it already.
    "LOG_FORMAT": (("plain", "json"), exact),
}


def enumerated_setting_errors(
    enumerated: Mapping[str, tuple[Iterable[str], Callable[[str], str]]], error_id: str
) -> list[CheckMessage]:
    """One error per setting whose value is not among its choices."""
    errors: list[CheckMessage] = []
    for name, (choices, read) in enumerated.items():
        value = getattr(settings, name)
        allowed = tuple(choices)
        if not isinstance(value, str) or read(value) not in allowed:
            errors.append(
                Error(
                    f"{name} must be one of {', '.join(allowed)}; it is {value!r}",
                    hint=f"Set {name} in the environment (or .env) to one of those values.",
                    id=error_id,
                )
            )
    return errors


def check_enumerated_settings(**kwargs: object) -> list[CheckMessage]:
    return enumerated_setting_errors(ENUMERATED, "agentsite.E002")


def agentsite_setting_errors() -> list[CheckMessage]:
    """Every start-up check of this project's settings (the ones tagged ``TAG``)."""
    from django.core.checks import run_checks

    return [message for message in run_checks(tags=[TAG]) if message.is_serious()]
