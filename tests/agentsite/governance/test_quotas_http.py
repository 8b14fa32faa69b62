"""Quotas on the native HTTP API: each limit refuses with 429, ``Retry-After`` and the
``X-RateLimit-*`` headers; admitted runs carry the headers; slots come back however runs end;
an owner's override beats the settings; conversation bytes stay under the server's cap."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from agents.testing import ModelStep, assistant_message

from agentsite.errors import QuotaExceeded
from agentsite.governance.quota_counters import get_counters
from agentsite.governance.quotas import admit_run, forget_cached_overrides, limits_for
from agentsite.models import ANONYMOUS_OWNER, QuotaOverride, Run
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_overrides():
    forget_cached_overrides()
    yield
    forget_cached_overrides()


async def post(client: Any, path: str, body: dict[str, Any], **headers: str) -> Any:
    return await client.post(
        path, json.dumps(body), content_type="application/json", headers=headers
    )


def header_values(value: str) -> dict[str, int]:
    pairs = (part.strip().split("=") for part in value.split(","))
    return {name: int(number) for name, number in pairs}


async def test_runs_per_minute_refuses_with_429_and_headers(client, settings):
    settings.QUOTA_RUNS_PER_MINUTE = 2
    first = await post(client, "/chat/run", {"input": "hello"})
    assert first.status_code == 200
    assert header_values(first["X-RateLimit-Limit"]) == {"runs-per-minute": 2}
    assert header_values(first["X-RateLimit-Remaining"]) == {"runs-per-minute": 1}
    assert 0 < header_values(first["X-RateLimit-Reset"])["runs-per-minute"] <= 60
    second = await post(client, "/chat/run", {"input": "hello"})
    assert header_values(second["X-RateLimit-Remaining"]) == {"runs-per-minute": 0}
    refused = await post(client, "/chat/run", {"input": "hello"})
    assert refused.status_code == 429
    body = refused.json()
    assert body["success"] is False and body["code"] == "quota_exceeded"
    assert "too many runs started this minute (limit 2)" in body["error"]
    assert 0 < int(refused["Retry-After"]) <= 60
    assert header_values(refused["X-RateLimit-Remaining"]) == {"runs-per-minute": 0}
    stream = await post(client, "/chat/stream", {"input": "hello"})
    assert stream.status_code == 429
    assert stream.json()["code"] == "quota_exceeded" and stream["Retry-After"]
    # Refused runs leave nothing in the ledger.
    assert await Run.objects.acount() == 2


async def test_streamed_runs_carry_the_headers(client, settings):
    settings.QUOTA_RUNS_PER_MINUTE = 5
    settings.QUOTA_TOKENS_PER_DAY = 1_000_000
    response = await post(client, "/chat/stream", {"input": "hello"})
    assert response.status_code == 200
    events = parse_sse(b"".join([chunk async for chunk in response.streaming_content]))
    assert events[-1]["type"] == "stream_complete"
    assert header_values(response["X-RateLimit-Limit"]) == {
        "runs-per-minute": 5,
        "tokens-per-day": 1_000_000,
    }
    assert header_values(response["X-RateLimit-Remaining"])["runs-per-minute"] == 4


async def test_no_limit_no_headers_and_nothing_counted(client, settings):
    response = await post(client, "/chat/run", {"input": "hello"})
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response
    counted = await get_counters().counted(ANONYMOUS_OWNER)
    assert (counted.runs_this_minute, counted.running) == (0, 0)


async def test_concurrent_runs_refused_while_one_runs_and_free_after(
    client, settings, use_scripted_model
):
    settings.QUOTA_CONCURRENT_RUNS = 1
    release = asyncio.Event()

    async def held(call: Any) -> Any:
        await release.wait()
        return [assistant_message("done")]

    use_scripted_model([ModelStep.respond(held), [assistant_message("again")]])
    first = await post(client, "/chat/stream", {"input": "long", "session_id": "a"})
    reading = asyncio.ensure_future(asyncio.wait_for(_read(first), timeout=10))
    refused = await post(client, "/chat/run", {"input": "other", "session_id": "b"})
    assert refused.status_code == 429
    assert "too many runs running at once (limit 1)" in refused.json()["error"]
    assert refused["Retry-After"] == "1"
    assert header_values(refused["X-RateLimit-Remaining"]) == {"concurrent-runs": 0}
    release.set()
    assert parse_sse(await reading)[-1]["type"] == "stream_complete"
    await _slots_free(ANONYMOUS_OWNER)
    again = await post(client, "/chat/run", {"input": "other", "session_id": "b"})
    assert again.status_code == 200, again.json()


async def _read(response: Any) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


async def _slots_free(owner: str) -> None:
    """The slot is released by a callback as the run's task ends: wait for it (bounded)."""
    for _ in range(200):
        if (await get_counters().counted(owner)).running == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the run's slot was not released")


@pytest.mark.parametrize("ending", ["failed", "cancelled"])
async def test_slot_released_when_a_run_fails_or_is_cancelled(
    client, settings, use_scripted_model, ending
):
    settings.QUOTA_CONCURRENT_RUNS = 1
    release = asyncio.Event()

    async def held(call: Any) -> Any:
        await release.wait()
        raise RuntimeError("model broke")

    use_scripted_model([ModelStep.respond(held)])
    response = await post(
        client, "/chat/stream", {"input": "x", "session_id": "s", "on_disconnect": "continue"}
    )
    run_id = response["X-Run-Id"]
    if ending == "cancelled":
        cancel = await client.post(
            f"/chat/runs/{run_id}/cancel?mode=immediate", content_type="application/json"
        )
        assert cancel.status_code == 200
    else:
        release.set()
    events = parse_sse(await _read(response))
    assert events[-1]["type"] == ("error" if ending == "failed" else "run_cancelled")
    run = await Run.objects.aget(pk=run_id)
    assert run.status == ending
    await _slots_free(ANONYMOUS_OWNER)


async def test_a_dead_process_slot_lapses_with_its_lease(settings):
    settings.QUOTA_CONCURRENT_RUNS = 1
    await admit_run("key:1", uuid.uuid4())  # never released: its process "died"
    with pytest.raises(QuotaExceeded):
        await admit_run("key:1", uuid.uuid4())
    settings.RUN_LEASE_SECONDS = 0
    await admit_run("key:2", uuid.uuid4())  # dies at once: its lease ends now
    await asyncio.sleep(0.01)
    quota = await admit_run("key:2", uuid.uuid4())  # the lapsed slot does not count
    assert quota.headers["X-RateLimit-Remaining"] == "concurrent-runs=0"


async def test_tokens_per_day_refuses_once_spent(client, settings):
    settings.QUOTA_TOKENS_PER_DAY = 10
    first = await post(client, "/chat/run", {"input": "hello there"})
    assert first.status_code == 200, first.json()
    spent = first.json()["usage"]["total_tokens"]
    assert spent >= 10  # the offline model reports its usage
    counted = await get_counters().counted(ANONYMOUS_OWNER)
    assert counted.tokens_today == spent
    refused = await post(client, "/chat/run", {"input": "hello"})
    assert refused.status_code == 429
    assert "today's token budget is used up (limit 10)" in refused.json()["error"]
    reset = int(refused["Retry-After"])
    assert 0 < reset <= 86_400
    assert header_values(refused["X-RateLimit-Reset"]) == {"tokens-per-day": reset}


async def test_research_per_day(client, settings):
    settings.QUOTA_RESEARCH_PER_DAY = 1
    first = await client.post(
        "/research/stream?query=How do context managers work?", content_type="application/json"
    )
    assert first.status_code == 200
    await _read(first)  # a research run counts whatever it finds
    refused = await client.post(
        "/research?query=How do context managers work?", content_type="application/json"
    )
    assert refused.status_code == 429
    assert "today's research runs are used up (limit 1)" in refused.json()["error"]
    assert refused["Retry-After"]
    # Agent runs are not research runs.
    assert (await post(client, "/chat/run", {"input": "hello"})).status_code == 200


async def test_override_beats_the_settings_per_owner(settings):
    settings.QUOTA_RUNS_PER_MINUTE = 100
    await QuotaOverride.objects.acreate(owner_key="key:7", runs_per_minute=0, tokens_per_day=5)
    limits = await limits_for("key:7")
    assert (limits.runs_per_minute, limits.tokens_per_day) == (0, 5)
    assert (await limits_for("key:8")).runs_per_minute == 100
    with pytest.raises(QuotaExceeded) as refused:
        await admit_run("key:7", uuid.uuid4())
    assert refused.value.limit == "runs_per_minute"
    await admit_run("key:8", uuid.uuid4())


async def test_override_of_an_api_key_over_http(client, settings):
    from asgiref.sync import sync_to_async

    from agentsite.web.apikeys import generate_api_key

    key, secret = await sync_to_async(generate_api_key)("quota test")
    await QuotaOverride.objects.acreate(owner_key=key.owner_key, runs_per_minute=1)
    auth = {"authorization": f"Bearer {secret}"}
    assert (await post(client, "/chat/run", {"input": "a"}, **auth)).status_code == 200
    assert (await post(client, "/chat/run", {"input": "b"}, **auth)).status_code == 429
    # The anonymous namespace has no limit.
    assert (await post(client, "/chat/run", {"input": "c"})).status_code == 200


async def test_conversation_bytes_budget_under_the_server_cap(client, settings):
    settings.QUOTA_CONVERSATION_BYTES = 400
    first = await post(client, "/chat/run", {"input": "hello", "session_id": "c1"})
    assert first.status_code == 200
    big = await post(client, "/chat/run", {"input": "x" * 500, "session_id": "c1"})
    assert big.status_code == 409
    assert big.json()["code"] == "conversation_full"
    assert "400 bytes" in big.json()["error"]
    # The server's cap stays the ceiling when an owner's budget is larger.
    settings.QUOTA_CONVERSATION_BYTES = 10**9
    settings.MAX_CONVERSATION_BYTES = 300
    capped = await post(client, "/chat/run", {"input": "x" * 500, "session_id": "c2"})
    assert capped.status_code == 409


async def test_refused_start_gives_its_slot_back(client, settings):
    from agentsite.conversations.leases import claim_conversation

    settings.QUOTA_CONCURRENT_RUNS = 1
    await claim_conversation(ANONYMOUS_OWNER, "chat", "busy", uuid.uuid4())
    busy = await post(client, "/chat/run", {"input": "x", "session_id": "busy"})
    assert busy.status_code == 409
    assert (await get_counters().counted(ANONYMOUS_OWNER)).running == 0
    assert (await post(client, "/chat/run", {"input": "y"})).status_code == 200
