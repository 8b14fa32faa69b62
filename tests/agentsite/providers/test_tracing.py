"""Traces go nowhere the user did not ask: with ``OPENAI_BASE_URL`` on a local server, a run
exports nothing to OpenAI; ``AGENT_TRACING=true`` turns export on.

The SDK's exporter posts to OpenAI's ingest endpoint; here that endpoint is pointed at the local
fake server, a stand-in for api.openai.com, so an export attempt is a request the test can see.
"""

from __future__ import annotations

import pytest
from agents.tracing.processors import default_exporter, default_processor

from agentsite.providers.selection import configure_sdk, tracing_export_enabled
from tests.support.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)
INGEST_PATH = "/v1/traces/ingest"
LOCAL_KEY = "sk-local-server-key"


@pytest.fixture
def fake(monkeypatch):
    server = FakeOpenAI().start()
    exporter = default_exporter()
    monkeypatch.setattr(exporter, "endpoint", f"{server.base_url}/traces/ingest")
    monkeypatch.setattr(exporter, "_api_key", exporter._api_key)
    # As in a real process pointed at a local server: the key is in the environment too, where
    # the SDK's exporter looks for one.
    monkeypatch.setenv("OPENAI_API_KEY", LOCAL_KEY)
    default_processor().force_flush()  # nothing from earlier tests reaches this server
    try:
        yield server
    finally:
        server.stop()


def use_local_server(settings, base_url: str) -> None:
    settings.AGENT_TRACING = None  # the default: decided by where the runs go
    settings.MODEL_PROVIDER = "openai"
    settings.OPENAI_API_KEY = LOCAL_KEY
    settings.OPENAI_BASE_URL = base_url
    settings.OPENAI_API = "responses"
    settings.OPENAI_MAX_RETRIES = 0
    configure_sdk()  # as at start-up, in a process whose environment has these settings


async def run_once(client, fake: FakeOpenAI) -> None:
    fake.text("Hello from the local model")
    response = await client.post("/chat/run", {"input": "hi"}, content_type="application/json")
    assert response.status_code == 200, response.content
    default_processor().force_flush()


async def test_no_trace_export_when_the_base_url_is_not_openai(client, settings, fake):
    use_local_server(settings, fake.base_url)
    await run_once(client, fake)
    assert [request.path for request in fake.requests] == ["/v1/responses"]
    assert not tracing_export_enabled()


async def test_agent_tracing_true_exports(client, settings, fake):
    """The control: the same run with tracing asked for does reach the (stand-in) endpoint."""
    use_local_server(settings, fake.base_url)
    settings.AGENT_TRACING = True
    await run_once(client, fake)
    paths = [request.path for request in fake.requests]
    assert paths[0] == "/v1/responses" and INGEST_PATH in paths, paths


def test_export_is_on_for_openai_itself_with_a_key(settings):
    settings.AGENT_TRACING = None
    settings.MODEL_PROVIDER = "openai"
    settings.OPENAI_API_KEY = "sk-real"
    settings.OPENAI_BASE_URL = None
    assert tracing_export_enabled()
    settings.OPENAI_BASE_URL = "https://api.openai.com/v1"
    assert tracing_export_enabled()
    settings.OPENAI_BASE_URL = "https://llm.example.com/v1"
    assert not tracing_export_enabled()
    settings.AGENT_TRACING = False
    settings.OPENAI_BASE_URL = None
    assert not tracing_export_enabled()
