"""Shared fixtures: offline model with no delay, an async HTTP client, helpers for SSE."""

from __future__ import annotations

import pytest
from asgiref.sync import SyncToAsync
from django.db import connections
from django.test import AsyncClient


@pytest.fixture(scope="session", autouse=True)
def _close_sync_thread_connections(django_db_setup, django_db_blocker):
    """Async ORM calls run on asgiref's one sync thread; close its connection before the test
    database is dropped, or PostgreSQL refuses ("being accessed by other users")."""
    yield
    with django_db_blocker.unblock():
        SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(autouse=True)
def _fast_offline_model(settings):
    """Tests never wait between offline words or research steps, never see a real key from the
    environment, and never export traces (a test that sets a key for OpenAI's own endpoint
    would otherwise try to reach it)."""
    settings.OFFLINE_MODEL_DELAY = 0.0
    settings.RESEARCH_OFFLINE_STEP_DELAY = 0.0
    settings.MODEL_PROVIDER = "offline"
    settings.OPENAI_API_KEY = ""
    settings.AGENT_TRACING = False


@pytest.fixture
def client() -> AsyncClient:
    return AsyncClient()


@pytest.fixture
def use_scripted_model(settings, monkeypatch):
    """Route every run to an ``agents.testing.ScriptedModel`` built from the given steps."""
    from agents.models.interface import ModelProvider
    from agents.testing import ScriptedModel

    import agentsite.runs.agent_work as agent_work

    def install(steps) -> ScriptedModel:
        model = ScriptedModel(steps)

        class ScriptedProvider(ModelProvider):
            def get_model(self, model_name):
                return model

        monkeypatch.setattr(agent_work, "get_model_provider", lambda: ScriptedProvider())
        return model

    return install
