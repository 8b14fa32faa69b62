"""Settings with a fixed set of values are checked at start-up (system checks), not per request:
`manage.py check` names the setting and its values, and the ASGI application refuses to load."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.agentsite.test_security_settings import python

ENUMERATED = [
    ("MODEL_PROVIDER", "anthropic", "agentsite.E002"),
    ("OPENAI_API", "completions", "agentsite.E002"),
    ("OPENAI_HTTP_CLIENT", "requests", "agentsite.E002"),
    ("SSE_ON_DISCONNECT", "ignore", "agentsite.E002"),
    ("WS_ON_DISCONNECT", "Cancel", "agentsite.E002"),
    ("MULTITASK", "queue", "agentsite.E002"),
    ("LOG_FORMAT", "xml", "agentsite.E002"),
    ("RESEARCH_SEARCH_BACKEND", "bing", "research.E001"),
]


def errors_about(name: str) -> list[str]:
    return [f"{m.id} {m.msg}" for m in run_checks() if m.is_serious() and name in m.msg]


@pytest.mark.parametrize(("name", "value", "error_id"), ENUMERATED)
def test_a_value_outside_the_choices_is_a_check_error(settings, name, value, error_id):
    assert errors_about(name) == []
    setattr(settings, name, value)
    [error] = errors_about(name)
    assert error.startswith(f"{error_id} {name} must be one of ")
    assert repr(value) in error
    with pytest.raises(SystemCheckError, match=name):
        call_command("check")


@pytest.mark.parametrize(
    ("name", "value"),
    [("MODEL_PROVIDER", " OpenAI "), ("OPENAI_API", "Chat_Completions"), ("MULTITASK", "enqueue")],
)
def test_values_read_as_the_code_reads_them_pass(settings, name, value):
    setattr(settings, name, value)
    assert errors_about(name) == []


def test_the_asgi_application_refuses_to_load_with_a_bad_value(settings):
    from agentsite.asgi import refuse_invalid_settings

    refuse_invalid_settings()
    settings.SSE_ON_DISCONNECT = "ignore"
    with pytest.raises(ImproperlyConfigured, match="SSE_ON_DISCONNECT must be one of"):
        refuse_invalid_settings()


def test_a_server_started_from_the_asgi_module_stops_at_once():
    result = python("import agentsite.asgi", DEBUG="true", MULTITASK="sometimes")
    assert result.returncode != 0
    assert "MULTITASK must be one of reject, enqueue" in result.stderr
