"""Pytest fixtures that run agentsite on the real OpenAI provider against ``FakeOpenAI``.

A plugin module: load it with ``pytest_plugins = ["tests.support.openai_fixtures"]``. It is kept
apart from fake_openai.py so tests can import the server's names without pytest having already
imported the plugin (which would cost it assertion rewriting).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import LazySettings

from tests.support.fake_openai import FakeOpenAI
from tests.support.openai_wire import Api


def point_agentsite_at(settings: LazySettings, base_url: str, api: Api, timeout: float) -> None:
    """Route agentsite's runs through the real OpenAI provider at ``base_url``.

    Each assignment goes through pytest-django's ``settings`` fixture, whose setting_changed
    signal drops agentsite's cached provider, so the next run builds a client for these values.
    No retries: each scripted failure must reach agentsite exactly once.
    """
    settings.MODEL_PROVIDER = "openai"
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = base_url
    settings.OPENAI_API = api
    settings.OPENAI_MAX_RETRIES = 0
    settings.OPENAI_TIMEOUT = timeout


@pytest.fixture(params=["responses", "chat_completions"])
def openai_api(request: pytest.FixtureRequest) -> Api:
    return request.param


@pytest.fixture
def fake_openai(settings: LazySettings, openai_api: Api) -> Iterator[FakeOpenAI]:
    """A fake OpenAI server that agentsite is configured to use, once per API mode.

    The autouse fixture in tests/conftest.py selects the offline model; autouse fixtures of a
    scope are set up first, so the values set here win. Fails the test if scripted behaviours
    were left unused: a test that scripts more than it triggers is not testing what it says.
    """
    server = FakeOpenAI().start()
    point_agentsite_at(settings, server.base_url, openai_api, timeout=5.0)
    try:
        yield server
    finally:
        server.stop()
    assert server.pending == 0, f"{server.pending} scripted behaviour(s) never requested"
