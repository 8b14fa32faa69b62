"""Provider diagnostics: ``/health``'s ``provider_status`` and ``manage.py check_provider``,
against a closed port and the local fake OpenAI server (a 401, an unknown model, an API the
server does not speak); and provider failures in the log name the URL and model, not the key."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.test import AsyncClient

from tests.support.fake_openai import FakeOpenAI, closed_port

pytestmark = pytest.mark.django_db(transaction=True)
KEY = "sk-test-secret-1234"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(models=("gpt-fake",), api_key=KEY).start()
    try:
        yield server
    finally:
        server.stop()


def use(settings, base_url: str, *, api: str = "responses", model: str = "gpt-fake") -> None:
    settings.MODEL_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = base_url
    settings.OPENAI_API = api
    settings.OPENAI_MAX_RETRIES = 0
    settings.OPENAI_API_KEY = KEY
    settings.AGENT_MODEL = model


def check(**options: object) -> str:
    out = io.StringIO()
    call_command("check_provider", stdout=out, **options)
    return out.getvalue()


async def health(client: AsyncClient) -> dict:
    response = await client.get("/health")
    assert response.status_code == 200, "a provider problem is not this process's: still 200"
    return response.json()


async def test_health_offline(client):
    body = await health(client)
    assert body["status"] == "ok"
    assert body["provider_status"]["status"] == "offline"
    assert body["provider_status"]["reachable"] is None


async def test_health_reports_an_unreachable_provider(client, settings):
    base_url = f"http://127.0.0.1:{closed_port()}/v1"
    use(settings, base_url)
    body = await health(client)
    assert body["status"] == "degraded"
    status = body["provider_status"]
    assert (status["status"], status["reachable"]) == ("unreachable", False)
    assert f"Cannot connect to {base_url}" in status["error"]
    assert status["base_url"] == base_url and status["model"] == "gpt-fake"


async def test_health_reports_a_refused_key_and_checks_once_per_ttl(client, settings, fake):
    use(settings, fake.base_url)
    settings.OPENAI_API_KEY = "sk-wrong-key"
    first = await health(client)
    second = await health(client)
    status = first["provider_status"]
    assert (status["status"], status["reachable"]) == ("error", True)
    assert "refused the API key (HTTP 401" in status["error"]
    assert "sk-wrong-key" not in str(first)
    assert second["provider_status"] == status
    assert [request.path for request in fake.requests] == ["/v1/models"], "cached"


async def test_health_ok_when_the_model_is_listed(client, settings, fake):
    use(settings, fake.base_url)
    body = await health(client)
    assert body["status"] == "ok"
    assert body["provider_status"]["status"] == "ok"


def test_check_provider_offline(settings):
    output = check()
    assert "provider: offline" in output and "OK: the built-in offline model" in output


def test_check_provider_ok(settings, fake):
    use(settings, fake.base_url, api="chat_completions")
    output = check()
    for line in (
        "provider: openai",
        f"base URL: {fake.base_url}",
        "API:      chat_completions",
        "model:    gpt-fake",
        "OK: the provider is reachable and has the model",
    ):
        assert line in output
    assert KEY not in output
    assert [r.path for r in fake.requests] == ["/v1/models", "/v1/chat/completions"]
    assert all(not r.body.get("model") for r in fake.requests), "nothing billed was asked"


def test_check_provider_unreachable(settings):
    base_url = f"http://127.0.0.1:{closed_port()}/v1"
    use(settings, base_url)
    with pytest.raises(CommandError, match=f"Cannot connect to {base_url}"):
        check()


def test_check_provider_refused_key(settings, fake):
    use(settings, fake.base_url)
    settings.OPENAI_API_KEY = "sk-wrong-key"
    with pytest.raises(CommandError, match=r"refused the API key \(HTTP 401") as raised:
        check()
    assert "sk-wrong-key" not in str(raised.value)


def test_check_provider_unknown_model(settings, fake):
    use(settings, fake.base_url, model="gpt-nonexistent")
    with pytest.raises(CommandError, match=r"'gpt-nonexistent' is not offered .* gpt-fake"):
        check()


def test_check_provider_api_the_server_does_not_speak(settings):
    server = FakeOpenAI(apis=("chat_completions",)).start()
    try:
        use(settings, server.base_url, api="responses")
        settings.OPENAI_API_KEY = "anything"
        with pytest.raises(CommandError, match="does not speak the responses API"):
            check()
    finally:
        server.stop()


async def test_a_provider_failure_is_logged_with_url_and_model(client, settings, caplog):
    base_url = f"http://127.0.0.1:{closed_port()}/v1"
    use(settings, base_url, model="gpt-logged")
    with caplog.at_level(logging.WARNING, logger="agentsite.errors"):
        response = await client.post("/chat/run", {"input": "hi"}, content_type="application/json")
    assert response.status_code == 502
    logged = [r.getMessage() for r in caplog.records if r.name == "agentsite.errors"]
    assert any(base_url in line and "gpt-logged" in line for line in logged), logged
    assert KEY not in " ".join(logged)
