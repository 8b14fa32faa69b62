"""Settings hardening, in fresh interpreters as a server or an operator starts them: no serving
with the public development SECRET_KEY while DEBUG is off; "testserver" is no default host."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.support.server import REPO_ROOT

DEVELOPMENT_KEY = "django-insecure-agentsite-development-key-change-me-in-production"


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if key != "ALLOWED_HOSTS"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "agentsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def load_the_server(debug: str, secret_key: str) -> subprocess.CompletedProcess[str]:
    """What daphne, uvicorn and runserver do first: import the ASGI application."""
    return python("import agentsite.asgi", DEBUG=debug, SECRET_KEY=secret_key)


def test_the_server_refuses_the_development_key_with_debug_off():
    result = load_the_server("false", DEVELOPMENT_KEY)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is the public development key" in result.stderr


def test_the_rule_allows_a_real_key_or_debug_mode(settings):
    """The same rule in process (the suite itself imports the application with a key of its
    own and DEBUG off)."""
    from agentsite.asgi import refuse_development_secret_key

    settings.SECRET_KEY, settings.DEBUG = DEVELOPMENT_KEY, False
    with pytest.raises(ImproperlyConfigured):
        refuse_development_secret_key()
    settings.DEBUG = True
    refuse_development_secret_key()
    settings.SECRET_KEY, settings.DEBUG = "a-real-key-" + "x" * 50, False
    refuse_development_secret_key()


def test_management_commands_keep_working_on_a_fresh_clone():
    """`make run` migrates with DEBUG off and no key before it starts the server in debug mode;
    the settings and system checks must not refuse that."""
    code = "import django; django.setup(); from django.core.management import call_command; "
    code += "call_command('check'); from django.conf import settings; print(settings.ALLOWED_HOSTS)"
    result = python(code, DEBUG="false", SECRET_KEY=DEVELOPMENT_KEY)
    assert result.returncode == 0, result.stderr
    hosts = result.stdout.strip().splitlines()[-1]
    assert "testserver" not in hosts and "localhost" in hosts
