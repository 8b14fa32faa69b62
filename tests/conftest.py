"""Shared fixtures: offline model with no delay, an async HTTP client, helpers for SSE."""

from __future__ import annotations

import pytest
from django.test import AsyncClient


@pytest.fixture(autouse=True)
def _fast_offline_model(settings):
    """Tests never wait between offline words and never see a real key from the environment."""
    settings.OFFLINE_MODEL_DELAY = 0.0
    settings.MODEL_PROVIDER = "offline"
    settings.OPENAI_API_KEY = ""


@pytest.fixture
def client() -> AsyncClient:
    return AsyncClient()


@pytest.fixture
def use_scripted_model(settings, monkeypatch):
    """Route every run to an ``agents.testing.ScriptedModel`` built from the given steps."""
    from agents.models.interface import ModelProvider
    from agents.testing import ScriptedModel

    import agentsite.runs as runs

    def install(steps) -> ScriptedModel:
        model = ScriptedModel(steps)

        class ScriptedProvider(ModelProvider):
            def get_model(self, model_name):
                return model

        monkeypatch.setattr(runs, "get_model_provider", lambda: ScriptedProvider())
        return model

    return install
