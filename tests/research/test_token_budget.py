"""The day's token budget during a research run: a pipeline makes more model calls after a
response without tool calls (its next step), so the response that reaches the budget stops it
there, with the tokens of every response in the ledger — unlike an agent's loop
(tests/agentsite/governance/test_token_budget.py), whose final answer ends the run anyway."""

from __future__ import annotations

import pytest

from agentsite.governance.quotas import TOKEN_BUDGET_STOP, forget_cached_overrides
from agentsite.models import Run, RunStatus
from research.manager import CANCELLED
from research.models import Report
from tests.research.conftest import ResearchScript

pytestmark = pytest.mark.django_db(transaction=True)
QUERY = "How do context managers work?"
# conftest.CALL_USAGE: 15 tokens a model call; 1 planner + 5 searches + 1 writer.
TOKENS_PER_CALL, ALL_CALLS = 15, 7


async def test_research_stops_at_the_response_that_crosses_the_budget(
    client, settings, use_research_script, knowledge_base
):
    forget_cached_overrides()
    settings.QUOTA_TOKENS_PER_DAY = 40  # reached by the third call
    use_research_script(ResearchScript())

    response = await client.post(f"/research?query={QUERY}")

    # The blocking endpoint answers a cancelled research as it does any cancel: 409, with the
    # report that keeps what was done.
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "run_cancelled", body
    report_id = body["report_id"]
    run = await Run.objects.aget(pk=report_id)
    assert run.status == RunStatus.CANCELLED and run.cancelled_by == TOKEN_BUDGET_STOP
    assert 40 <= run.total_tokens < ALL_CALLS * TOKENS_PER_CALL  # the writer never ran
    report = await Report.objects.aget(pk=report_id)
    # A stopped report is kept as a failed one that says it was cancelled (as any cancel).
    assert (report.status, report.error) == ("failed", CANCELLED)
    assert report.total_tokens == run.total_tokens
    refused = await client.post(f"/research?query={QUERY}")
    assert refused.status_code == 429 and refused.json()["code"] == "quota_exceeded"
