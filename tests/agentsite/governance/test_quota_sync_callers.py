"""A run admitted under a sync caller — Django's test client here, an admin view or a WSGI
server in the wild — completes: the quotas read their overrides on a database thread, not with
Django's async ORM, whose call from the run's own context would wait for the caller's thread
(it waited forever before; see agentsite.conversations.dbthread)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.test import Client

from agentsite.governance.quotas import forget_cached_overrides
from agentsite.models import QuotaOverride

pytestmark = pytest.mark.django_db(transaction=True)
# Far longer than the offline model's run takes; a hang would never end.
WAIT_SECONDS = 30


def post_from_another_thread(path: str, body: dict[str, Any]) -> Any:
    answers: list[Any] = []
    caller = threading.Thread(
        target=lambda: answers.append(
            Client().post(path, json.dumps(body), content_type="application/json")
        ),
        daemon=True,
    )
    caller.start()
    caller.join(WAIT_SECONDS)
    assert answers, f"the run did not end within {WAIT_SECONDS} s under a sync caller"
    return answers[0]


@pytest.mark.parametrize("override", [False, True])
def test_a_run_under_a_sync_caller_completes(override: bool):
    forget_cached_overrides()
    if override:
        QuotaOverride.objects.create(owner_key="anonymous", runs_per_minute=5)

    response = post_from_another_thread("/chat/run", {"input": "hello"})

    assert response.status_code == 200, response.content
    assert response.json()["success"] is True
    if override:
        assert "runs-per-minute=4" in response["X-RateLimit-Remaining"]
