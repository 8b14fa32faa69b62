"""Tokens per day during a run: charged as each model response arrives; the response that
crosses the budget lets its turn finish (its tools run) and then stops the run, recorded in
the ledger as cancelled by ``quota:tokens_per_day``. A run paused for approval holds no slot
and, resumed, is counted again without its earlier tokens charged twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from agents.testing import ModelStep, assistant_message, function_call
from agents.usage import Usage

from agentsite.governance.quota_counters import Counted, get_counters
from agentsite.governance.quotas import TOKEN_BUDGET_STOP, forget_cached_overrides
from agentsite.models import ANONYMOUS_OWNER, Run, RunStatus
from tests.agentsite.web.test_approvals_http import pause, wait_for_end
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)
TURN = Usage(requests=1, input_tokens=500, output_tokens=100, total_tokens=600)


@pytest.fixture(autouse=True)
def _fresh_overrides():
    forget_cached_overrides()


async def stream(client: Any, path: str, body: dict[str, Any]) -> tuple[Any, list[Any]]:
    response = await client.post(path, json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    raw = b"".join([chunk async for chunk in response.streaming_content])
    return response, parse_sse(raw)


async def settled(done: Callable[[Counted], bool]) -> Counted:
    """The owner's counts once the end of its run has been counted (a callback of the run's
    task releases the slot and settles the tokens, just after the last event)."""
    for _ in range(500):
        counted = await get_counters().counted(ANONYMOUS_OWNER)
        if done(counted):
            return counted
        await asyncio.sleep(0.01)
    return counted


def calculation(call_id: str) -> ModelStep:
    return ModelStep(
        output=[function_call("calculate", {"expression": "6*7"}, call_id=call_id)], usage=TURN
    )


async def test_crossing_the_budget_stops_the_run_after_the_turn(
    client, settings, use_scripted_model
):
    settings.QUOTA_TOKENS_PER_DAY = 1000
    model = use_scripted_model(
        [calculation("c1"), calculation("c2"), ModelStep(output=[assistant_message("never")])]
    )
    response, events = await stream(client, "/assistant/stream", {"input": "compute"})
    # Turn 1 (600 tokens) goes on; turn 2 reaches 1200 ≥ 1000: its tool still runs, then stop.
    outputs = [event for event in events if event.get("name") == "tool_output"]
    assert [event["call_id"] for event in outputs] == ["c1", "c2"]
    last = events[-1]
    assert last["type"] == "run_cancelled"
    assert last["cancelled_by"] == TOKEN_BUDGET_STOP and last["mode"] == "after_turn"
    assert model.remaining_steps == 1  # the third model call never happened
    run = await Run.objects.aget(pk=response["X-Run-Id"])
    assert run.status == RunStatus.CANCELLED and run.cancelled_by == TOKEN_BUDGET_STOP
    assert run.total_tokens == 1200
    counted = await get_counters().counted(ANONYMOUS_OWNER)
    assert counted.tokens_today == 1200 and counted.running == 0
    refused = await client.post(
        "/chat/run", json.dumps({"input": "more"}), content_type="application/json"
    )
    assert refused.status_code == 429 and refused.json()["code"] == "quota_exceeded"


async def test_a_final_answer_over_the_budget_still_completes(client, settings, use_scripted_model):
    settings.QUOTA_TOKENS_PER_DAY = 500
    use_scripted_model([ModelStep(output=[assistant_message("the answer")], usage=TURN)])
    _, events = await stream(client, "/chat/stream", {"input": "question"})
    assert events[-1]["type"] == "stream_complete"
    assert events[-1]["final_output"] == "the answer"
    assert (await get_counters().counted(ANONYMOUS_OWNER)).tokens_today == 600


async def test_under_the_budget_nothing_stops(client, settings, use_scripted_model):
    settings.QUOTA_TOKENS_PER_DAY = 10_000
    use_scripted_model(
        [calculation("c1"), calculation("c2"), ModelStep(output=[assistant_message("42")])]
    )
    _, events = await stream(client, "/assistant/stream", {"input": "compute"})
    assert events[-1]["type"] == "stream_complete"
    assert (await get_counters().counted(ANONYMOUS_OWNER)).tokens_today == 1200


async def test_a_paused_run_frees_its_slot_and_is_counted_again_when_resumed(client, settings):
    settings.QUOTA_CONCURRENT_RUNS = 1
    settings.QUOTA_TOKENS_PER_DAY = 10**9
    run_id, events = await pause(client, "quota-hitl")
    await wait_for_end(run_id)
    paused = await Run.objects.aget(pk=run_id)
    # The run's end is counted by a callback after its last event: the slot's release, then
    # the tokens' settling. Wait for both, whichever the responses' charges reached first.
    counted = await settled(
        lambda counted: counted.running == 0 and counted.tokens_today == paused.total_tokens
    )
    assert counted.running == 0  # paused: no slot held
    assert counted.tokens_today == paused.total_tokens > 0
    decided = await client.post(
        f"/assistant/runs/{run_id}/approvals",
        json.dumps({"decisions": [{"id": events[-1]["approval_id"], "approve": True}]}),
        content_type="application/json",
        headers={"accept": "text/event-stream"},
    )
    resumed = parse_sse(b"".join([chunk async for chunk in decided.streaming_content]))
    assert resumed[-1]["type"] == "stream_complete"
    await wait_for_end(run_id)
    finished = await Run.objects.aget(pk=run_id)
    assert finished.total_tokens > paused.total_tokens
    counted = await settled(
        lambda counted: counted.running == 0 and counted.tokens_today == finished.total_tokens
    )
    # The whole run's tokens, its first part charged once.
    assert counted.tokens_today == finished.total_tokens
