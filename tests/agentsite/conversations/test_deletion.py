"""Deleting a conversation deletes every copy of its content, and run events expire.

A reply's text lives in the conversation's items and in the event log of the run that wrote it
(database batches, or Redis streams with ``REDIS_URL``): a client could replay it through
``GET /{agent}/runs/{id}/stream``. Every way of deleting a conversation — the API, the admin's
purge, its "delete selected" action and delete page, ``manage.py purge_sessions`` — must leave
nothing to replay, on both event-log backends; the ledger row stays as metadata. Finished runs'
database batches expire after RUN_EVENTS_TTL_SECONDS like the Redis streams do.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from agents.exceptions import ModelBehaviorError
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.test import AsyncClient, Client
from django.utils import timezone

import agentsite.runs.eventlog as eventlog
from agentsite.asgi import application
from agentsite.models import Conversation, ConversationItem, Run, RunEventBatch
from agentsite.runs.eventlog import get_event_log
from tests.agentsite.web.test_runs_http import start_stream
from tests.support.eventlog import BACKENDS, async_event_log_on

pytestmark = pytest.mark.django_db(transaction=True)

# This module's own Redis database (test_eventlog.py and test_multiprocess.py use 12 and 11).
REDIS_DB_DELETION = 13
CHANGELIST = "/admin/agentsite/conversation/"
QUESTION = "Tell me about the lighthouse keeper"
BROWSER_HEADERS = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
DELETIONS = ["api", "admin-purge", "admin-delete-page", "purge_sessions"]


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, settings: Any) -> AsyncIterator[str]:
    """Runs log their events to the database, or to a Redis database of this module's own."""
    async with async_event_log_on(request.param, REDIS_DB_DELETION, settings) as name:
        yield name


async def finished_run(client: AsyncClient, session_id: str) -> tuple[str, str]:
    """Run the chat agent to the end in ``session_id``; its run id and its reply's text."""
    stream = await start_stream(
        client, "/chat/stream", {"input": QUESTION, "session_id": session_id}
    )
    events = await stream.read_to_end()
    reply = events[-1][1]["final_output"]
    assert isinstance(reply, str) and len(reply) > 20
    return stream.run_id, reply


async def replay(client: AsyncClient, run_id: str) -> Any:
    return await client.get(f"/chat/runs/{run_id}/stream?after=0")


def redis_has_events(run_id: str) -> bool:
    from django.conf import settings
    from redis import Redis

    with Redis.from_url(settings.REDIS_URL) as redis:
        return bool(redis.exists(f"agentsite:run:{uuid.UUID(run_id)}:events"))


async def delete(how: str, client: AsyncClient, admin: Client, session_id: str) -> None:
    conversation = await Conversation.objects.aget(session_id=session_id)
    if how == "api":
        response = await client.delete(f"/chat/session/{session_id}")
        assert response.status_code == 200, response.content
    elif how == "admin-purge":
        body = {
            "action": "purge_selected",
            "_selected_action": [conversation.pk],
            "index": 0,
            "confirm": "yes",
        }
        response = await sync_to_async(admin.post)(CHANGELIST, body)
        assert response.status_code == 302
    elif how == "admin-delete-page":
        page = f"{CHANGELIST}{conversation.pk}/delete/"
        response = await sync_to_async(admin.post)(page, {"post": "yes"})
        assert response.status_code == 302
    else:
        old = timezone.now() - timedelta(days=40)
        await Conversation.objects.filter(pk=conversation.pk).aupdate(updated_at=old)
        await sync_to_async(call_command)("purge_sessions", "--older-than", "30d")


@pytest.mark.parametrize("how", DELETIONS)
async def test_deleting_a_conversation_leaves_no_content_to_replay(
    client: AsyncClient, admin_client: Client, backend: str, how: str
):
    run_id, reply = await finished_run(client, "doomed")
    kept_run, kept_reply = await finished_run(client, "kept")
    before = await replay(client, run_id)
    assert before.status_code == 200
    assert reply in b"".join([chunk async for chunk in before.streaming_content]).decode()

    await delete(how, client, admin_client, "doomed")

    after = await replay(client, run_id)
    assert after.status_code == 404, after.content
    assert after.json()["success"] is False
    assert "no longer kept" in after.json()["error"]
    assert not await Conversation.objects.filter(session_id="doomed").aexists()
    assert not await ConversationItem.objects.filter(conversation__session_id="doomed").aexists()
    assert not await RunEventBatch.objects.filter(run_id=run_id).aexists()
    if backend == "redis":
        assert not redis_has_events(run_id)
    # The ledger keeps the run as metadata, with no trace of what was said.
    ledger = await Run.objects.filter(pk=run_id).values().aget()
    assert ledger["conversation_id"] is None
    assert ledger["status"] == "completed" and ledger["total_tokens"] > 0
    assert not any(reply in str(value) or QUESTION in str(value) for value in ledger.values())
    # Another conversation's run is untouched.
    other = await replay(client, kept_run)
    assert other.status_code == 200
    assert kept_reply in b"".join([chunk async for chunk in other.streaming_content]).decode()


async def test_a_deleted_conversations_run_errors_keep_no_content(
    client: AsyncClient, use_scripted_model: Any
):
    """A failed run's error text may quote the model's output: it goes with the conversation."""
    use_scripted_model([ModelBehaviorError("Invalid JSON: the secret plan is to sail at dawn")])
    stream = await start_stream(client, "/chat/stream", {"input": "Hi", "session_id": "failing"})
    await stream.read_to_end()
    assert "secret plan" in (await Run.objects.aget(pk=stream.run_id)).error

    response = await client.delete("/chat/session/failing")

    assert response.status_code == 200
    run = await Run.objects.aget(pk=stream.run_id)
    assert "secret plan" not in run.error
    assert run.error == "(error details removed with the conversation)"
    assert run.status == "failed"


async def test_deleting_a_conversation_with_a_live_run_is_refused(
    client: AsyncClient, settings: Any
):
    settings.OFFLINE_MODEL_DELAY = 0.03
    stream = await start_stream(client, "/chat/stream", {"input": QUESTION, "session_id": "busy"})

    response = await client.delete("/chat/session/busy")

    assert response.status_code == 409
    assert await Conversation.objects.filter(session_id="busy").aexists()
    await stream.read_to_end()


# --- retention of the database event log -----------------------------------------------------


async def age_run(run_id: str, seconds: float) -> None:
    """Pretend the run ended ``seconds`` ago."""
    ended = timezone.now() - timedelta(seconds=seconds)
    await Run.objects.filter(pk=run_id).aupdate(finished_at=ended, started_at=ended)


async def test_expire_run_events_deletes_batches_of_runs_past_the_ttl(
    client: AsyncClient, settings: Any
):
    settings.REDIS_URL = ""
    settings.RUN_EVENTS_TTL_SECONDS = 3600
    get_event_log.cache_clear()
    old_run, _ = await finished_run(client, "old")
    recent_run, recent_reply = await finished_run(client, "recent")
    dead = await Run.objects.acreate(
        agent="chat", lease_until=timezone.now() - timedelta(seconds=3700)
    )
    await RunEventBatch.objects.acreate(run=dead, first_seq=1, last_seq=1, data='[{"a": 1}]')
    await age_run(old_run, 3601)

    await sync_to_async(call_command)("expire_run_events")

    assert not await RunEventBatch.objects.filter(run_id__in=[old_run, dead.pk]).aexists()
    assert await RunEventBatch.objects.filter(run_id=recent_run).aexists()
    expired = await replay(client, old_run)
    assert expired.status_code == 404
    assert "RUN_EVENTS_TTL_SECONDS" in expired.json()["error"]
    recent = await replay(client, recent_run)
    assert recent.status_code == 200
    assert recent_reply in b"".join([chunk async for chunk in recent.streaming_content]).decode()
    # The ledger row stays.
    assert await Run.objects.filter(pk=old_run).aexists()


async def test_servers_expire_old_batches_as_runs_end(client: AsyncClient, settings: Any):
    """No cron job needed: a run's end deletes expired batches in the background (at most once
    every EXPIRY_EVERY_SECONDS per process)."""
    settings.REDIS_URL = ""
    settings.RUN_EVENTS_TTL_SECONDS = 3600
    get_event_log.cache_clear()
    old_run, _ = await finished_run(client, "old")
    await age_run(old_run, 3601)
    eventlog._expiry["next"] = 0.0

    await finished_run(client, "next")

    deadline = time.monotonic() + 10
    while await RunEventBatch.objects.filter(run_id=old_run).aexists():
        assert time.monotonic() < deadline, "the expired batches were never deleted"
        await asyncio.sleep(0.05)


async def test_a_websocket_resume_of_a_deleted_conversations_run_is_a_404(client: AsyncClient):
    run_id, _ = await finished_run(client, "doomed")
    assert (await client.delete("/chat/session/doomed")).status_code == 200

    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=BROWSER_HEADERS)
    accepted, _ = await communicator.connect(timeout=5)
    assert accepted
    try:
        await communicator.send_json_to({"type": "resume", "run_id": run_id})
        answer = await communicator.receive_json_from(5)
    finally:
        await communicator.disconnect(timeout=5)

    assert answer["type"] == "error"
    assert answer["status"] == 404
    assert "no longer kept" in answer["message"]


def test_migration_forgets_events_of_conversations_deleted_before(transactional_db):
    """Conversations deleted before this release left their runs' events behind: the
    migration deletes the batches of every run whose conversation is gone."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("agentsite", "0005_input_conversation_bytes")]
    after = [("agentsite", "0006_forget_deleted_events")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    conversation = old.get_model("agentsite", "Conversation").objects.create(
        agent="chat", session_id="alive"
    )
    runs = old.get_model("agentsite", "Run").objects
    orphan = runs.create(agent="chat", session_id="deleted-long-ago")
    alive = runs.create(agent="chat", session_id="alive", conversation=conversation)
    stateless = runs.create(agent="chat", session_id="")
    batches = old.get_model("agentsite", "RunEventBatch").objects
    for run in (orphan, alive, stateless):
        batches.create(run=run, first_seq=1, last_seq=1, data='[{"delta": "secret"}]')

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    kept = set(RunEventBatch.objects.values_list("run_id", flat=True))
    # Back to the latest schema: later migrations change tables the next tests use.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert kept == {alive.pk, stateless.pk}
