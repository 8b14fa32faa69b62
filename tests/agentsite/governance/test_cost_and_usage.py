"""Cost estimates (MODEL_PRICES), ``GET /me/usage``, the admin's cost columns and quota
overrides, and the start-up check of the quota settings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

from agentsite.governance.cost import check_prices, estimate_cost, price_of, usage_breakdown
from agentsite.governance.quotas import check_quota_settings, forget_cached_overrides
from agentsite.models import QuotaOverride, Run, RunStatus


@pytest.fixture(autouse=True)
def _fresh_overrides():
    forget_cached_overrides()


def test_estimate_counts_cached_input_at_its_own_price(settings):
    settings.MODEL_PRICES = {"m": {"input": 2.0, "cached_input": 0.5, "output": 8.0}}
    # 1M input of which 400k cached, 100k output: 0.6×2 + 0.4×0.5 + 0.1×8 = 2.2 USD
    assert estimate_cost("m", 1_000_000, 400_000, 100_000) == pytest.approx(2.2)
    assert estimate_cost("unknown", 10, 0, 10) is None


def test_a_dated_snapshot_takes_its_family_price():
    assert price_of("gpt-4o-2024-08-06") == price_of("gpt-4o")
    assert price_of("gpt-4o-mini-2024-07-18") == price_of("gpt-4o-mini")
    assert price_of("gpt-4ox") is None


@pytest.mark.parametrize(
    "prices",
    [
        [],
        {"m": {"input": 1}},
        {"m": {"input": -1, "cached_input": 0, "output": 0}},
        {"m": {"input": "1", "cached_input": 0, "output": 0}},
    ],
)
def test_malformed_prices_are_named(prices):
    assert check_prices(prices)


def test_bad_quota_settings_stop_the_check(settings):
    assert check_quota_settings() == []
    settings.QUOTA_TOKENS_PER_DAY = -5
    [error] = check_quota_settings()
    assert error.id == "agentsite.E019" and "QUOTA_TOKENS_PER_DAY" in error.msg
    with pytest.raises(SystemCheckError, match="QUOTA_TOKENS_PER_DAY"):
        call_command("check")


def make_run(owner: str, model: str, agent: str = "chat", **tokens: int) -> Run:
    return Run.objects.create(
        agent=agent, owner_key=owner, model=model, status=RunStatus.COMPLETED, **tokens
    )


@pytest.mark.django_db
def test_breakdown_by_owner_adds_up_models_at_their_prices(settings):
    settings.MODEL_PRICES = {
        "cheap": {"input": 1.0, "cached_input": 0.0, "output": 0.0},
        "dear": {"input": 10.0, "cached_input": 0.0, "output": 0.0},
    }
    make_run("key:1", "cheap", input_tokens=1_000_000, total_tokens=1_000_000)
    make_run("key:1", "dear", input_tokens=1_000_000, total_tokens=1_000_000)
    make_run("user:2", "cheap", input_tokens=500_000, total_tokens=500_000)
    make_run("user:2", "nameless", input_tokens=10, total_tokens=10)
    rows = usage_breakdown(Run.objects.all(), ["owner_key"])
    assert [(row["owner_key"], row["estimated_cost"], row["runs"]) for row in rows] == [
        ("key:1", 11.0, 2),
        ("user:2", 0.5, 2),
    ]
    assert rows[1]["unpriced_runs"] == 1 and rows[1]["total_tokens"] == 500_010


@pytest.mark.django_db(transaction=True)
async def test_me_usage_without_limits(client: Any):
    await client.post("/chat/run", json.dumps({"input": "hi"}), content_type="application/json")
    body = (await client.get("/me/usage")).json()
    assert body["owner"] == "anonymous" and body["limits"] == {}
    assert body["conversation_bytes"] == 16 * 1024 * 1024
    [row] = body["today"]["by_agent_and_model"]
    assert (row["agent"], row["model"], row["runs"]) == ("chat", "offline", 1)
    assert body["today"]["runs"] == 1 and body["today"]["total_tokens"] == row["total_tokens"] > 0
    assert body["today"]["estimated_cost"] == 0.0


@pytest.mark.django_db(transaction=True)
async def test_me_usage_with_limits_and_an_override(client: Any, settings):
    settings.QUOTA_RUNS_PER_MINUTE = 5
    settings.QUOTA_CONVERSATION_BYTES = 1000
    await QuotaOverride.objects.acreate(owner_key="anonymous", tokens_per_day=100_000)
    run = await client.post(
        "/chat/run", json.dumps({"input": "hi"}), content_type="application/json"
    )
    spent = run.json()["usage"]["total_tokens"]
    body = (await client.get("/me/usage")).json()
    assert body["conversation_bytes"] == 1000
    minute = body["limits"]["runs_per_minute"]
    assert (minute["limit"], minute["used"], minute["remaining"]) == (5, 1, 4)
    assert 0 < minute["reset"] <= 60
    tokens = body["limits"]["tokens_per_day"]
    assert (tokens["used"], tokens["remaining"]) == (spent, 100_000 - spent)
    assert set(body["limits"]) == {"runs_per_minute", "tokens_per_day"}


@pytest.mark.django_db(transaction=True)
async def test_me_usage_is_in_the_openapi_schema(client: Any):
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/me/usage"]["get"]
    assert operation["operationId"] == "me_usage"
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    properties = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    assert {"owner", "limits", "conversation_bytes", "today"} <= set(properties)


@pytest.mark.django_db
def test_admin_shows_costs_per_run_and_per_owner(admin_client, settings):
    settings.MODEL_PRICES = {"priced": {"input": 1.0, "cached_input": 0.1, "output": 4.0}}
    make_run(
        "key:42", "priced", input_tokens=1_000_000, output_tokens=250_000, total_tokens=1_250_000
    )
    listing = admin_client.get("/admin/agentsite/run/").content.decode()
    assert "Est. cost (USD)" in listing and "2.000000" in listing
    usage = admin_client.get("/admin/agentsite/run/usage/", {"days": 7}).content.decode()
    assert "By owner (API key, user, browser)" in usage
    assert "<td>key:42</td>" in usage and "2.0000" in usage


@pytest.mark.django_db
def test_admin_edits_quota_overrides_and_checks_the_owner(admin_client):
    page = "/admin/agentsite/quotaoverride/add/"
    bad = admin_client.post(page, {"owner_key": "someone", "runs_per_minute": "3"})
    assert bad.status_code == 200 and "key:&lt;id&gt;" in bad.content.decode()
    good = admin_client.post(page, {"owner_key": "key:5", "runs_per_minute": "3"})
    assert good.status_code == 302
    override = QuotaOverride.objects.get()
    assert (override.owner_key, override.runs_per_minute, override.tokens_per_day) == (
        "key:5",
        3,
        None,
    )
    assert timezone.now() >= override.updated_at
