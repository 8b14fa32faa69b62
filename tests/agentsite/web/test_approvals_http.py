"""Human approval of tool calls over the native HTTP API (DESIGN.md §9), in one process.

The assistant's ``send_email`` is declared with ``needs_approval``; the offline model calls it
when asked to email someone. Everything goes through the public surface (``AsyncClient``, raw
SSE); the mail goes to Django's test outbox.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core import mail
from django.core.management import call_command
from django.test import AsyncClient
from django.utils import timezone

from agentsite.models import Conversation, ConversationItem, Run, ToolApproval
from agentsite.runs.hub import get_live
from agentsite.web.apikeys import generate_api_key
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)

ASK = "Please email bob@example.com that the report is ready"


async def post(client: AsyncClient, path: str, body: dict[str, Any], **headers: str) -> Any:
    return await client.post(path, body, content_type="application/json", headers=headers)


async def read_sse(response: Any) -> list[dict[str, Any]]:
    return parse_sse(b"".join([chunk async for chunk in response.streaming_content]))


async def pause(client: AsyncClient, session_id: str) -> tuple[str, list[dict[str, Any]]]:
    """Stream the request to email Bob; the run id and the stream's events (it pauses)."""
    response = await post(client, "/assistant/stream", {"input": ASK, "session_id": session_id})
    assert response.status_code == 200
    return response["X-Run-Id"], await read_sse(response)


async def wait_for_end(run_id: str) -> None:
    live = get_live(uuid.UUID(run_id))
    if live is not None:
        await live.done.wait()


async def test_a_tool_needing_approval_pauses_the_run_and_lists_the_call(client):
    run_id, events = await pause(client, "hitl-1")

    requested = [event for event in events if event["type"] == "approval_requested"]
    assert len(requested) == 1 and events[-1] is requested[0]
    event = requested[0]
    assert event["tool_name"] == "send_email" and event["run_id"] == run_id
    assert json.loads(event["tool_arguments"]) == {
        "to": "bob@example.com",
        "subject": "The report is ready",
        "body": "The report is ready.",
    }
    assert not any(event["type"] == "stream_complete" for event in events)
    assert mail.outbox == []

    status = (await client.get(f"/assistant/runs/{run_id}")).json()
    assert status["status"] == "awaiting_approval"
    [approval] = status["approvals"]
    assert approval["id"] == event["approval_id"]
    assert approval["call_id"] == event["call_id"]
    assert approval["tool_name"] == "send_email"
    assert json.loads(approval["arguments"])["to"] == "bob@example.com"
    assert approval["requested_at"]


async def test_approving_runs_the_tool_and_the_stream_continues(client):
    run_id, events = await pause(client, "hitl-2")
    approval_id = events[-1]["approval_id"]
    paused_seqs = len(events)

    response = await post(
        client,
        f"/assistant/runs/{run_id}/approvals",
        {"decisions": [{"id": approval_id, "approve": True}]},
        accept="text/event-stream",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    raw = b"".join([chunk async for chunk in response.streaming_content])
    resumed = parse_sse(raw)
    ids = [line for line in raw.decode().splitlines() if line.startswith("id: ")]
    # Same run, seqs go on from where the paused stream stopped.
    assert ids[0] == f"id: {run_id}:{paused_seqs + 1}"
    outputs = [e for e in resumed if e.get("name") == "tool_output"]
    assert outputs[0]["output"].startswith("Email sent to bob@example.com")
    assert resumed[-1]["type"] == "stream_complete"
    assert "Email sent to bob@example.com" in resumed[-1]["final_output"]
    assert resumed[-1]["run_id"] == run_id

    [sent] = mail.outbox
    assert sent.to == ["bob@example.com"] and sent.subject == "The report is ready"
    status = (await client.get(f"/assistant/runs/{run_id}")).json()
    assert status["status"] == "completed" and status["approvals"] == []
    assert status["event_count"] == paused_seqs + len(resumed)
    decided = await ToolApproval.objects.aget(pk=approval_id)
    assert decided.decision == "approved" and decided.decided_by == "anonymous"
    assert decided.decided_at is not None
    # The conversation is free again and remembers the call and its answer.
    again = await post(client, "/assistant/run", {"input": "thanks", "session_id": "hitl-2"})
    assert again.status_code == 200
    types = [
        (item.role, item.item_type)
        async for item in ConversationItem.objects.filter(
            conversation__session_id="hitl-2"
        ).order_by("position")
    ]
    assert types[:4] == [
        ("user", "message"),
        ("", "function_call"),
        ("", "function_call_output"),
        ("assistant", "message"),
    ]


async def test_rejecting_skips_the_tool_and_the_reason_reaches_the_model(client):
    run_id, events = await pause(client, "hitl-3")
    approval_id = events[-1]["approval_id"]

    response = await post(
        client,
        f"/assistant/runs/{run_id}/approvals",
        {"decisions": [{"id": approval_id, "approve": False, "reason": "Bob is on leave"}]},
    )
    assert response.status_code == 200
    assert response.json()["status"] in ("running", "completed")
    await wait_for_end(run_id)

    assert mail.outbox == []
    resumed = await client.get(f"/assistant/runs/{run_id}/stream?after={len(events)}")
    events_after = await read_sse(resumed)
    output = next(e for e in events_after if e.get("name") == "tool_output")["output"]
    assert "did not run" in output and "Bob is on leave" in output
    final = events_after[-1]
    assert final["type"] == "stream_complete" and "Bob is on leave" in final["final_output"]
    approval = await ToolApproval.objects.aget(pk=approval_id)
    assert approval.decision == "rejected" and approval.reason == "Bob is on leave"


async def test_run_endpoint_reports_the_pause(client):
    response = await post(client, "/assistant/run", {"input": ASK, "session_id": "hitl-4"})
    body = response.json()
    assert response.status_code == 200 and body["success"] is True
    assert body["status"] == "awaiting_approval" and body["final_output"] is None
    [approval] = body["approvals"]
    status = (await client.get(f"/assistant/runs/{body['run_id']}")).json()
    assert status["approvals"][0]["id"] == approval["id"]


async def test_decision_errors(client):
    run_id, events = await pause(client, "hitl-5")
    approval_id = events[-1]["approval_id"]
    url = f"/assistant/runs/{run_id}/approvals"

    bad_bodies = [
        {},
        {"decisions": []},
        {"decisions": [{"id": "not-a-uuid", "approve": True}]},
        {"decisions": [{"id": approval_id, "approve": "yes"}]},
        {"decisions": [{"id": approval_id}]},
        {"decisions": [{"id": str(uuid.uuid4()), "approve": True}]},
        {"decisions": [{"id": approval_id, "approve": False, "always": True}]},
        {"decisions": [{"id": approval_id, "approve": True}] * 2},
    ]
    for body in bad_bodies:
        response = await post(client, url, body)
        assert response.status_code == 422, (body, response.content)
        assert response.json()["success"] is False and response.json()["error"]
    # Nothing was decided by the refused requests.
    assert (await client.get(f"/assistant/runs/{run_id}")).json()["approvals"]

    decision = {"decisions": [{"id": approval_id, "approve": True}]}
    _, key = await sync_to_async(generate_api_key)("someone else")
    foreign = await post(client, url, decision, authorization=f"Bearer {key}")
    assert foreign.status_code == 404, foreign.content
    assert (await post(client, f"/chat/runs/{run_id}/approvals", decision)).status_code == 404
    assert (
        await post(client, f"/assistant/runs/{uuid.uuid4()}/approvals", decision)
    ).status_code == 404
    assert (await client.get(f"/assistant/runs/{run_id}")).json()["approvals"]

    ok = await post(client, url, {"decisions": [{"id": approval_id, "approve": True}]})
    assert ok.status_code == 200
    await wait_for_end(run_id)
    again = await post(client, url, {"decisions": [{"id": approval_id, "approve": True}]})
    assert again.status_code == 409
    assert again.json()["code"] == "not_awaiting_approval"
    assert len(mail.outbox) == 1


async def test_a_new_message_while_an_approval_is_pending_is_refused(client):
    run_id, events = await pause(client, "hitl-6")
    approval_id = events[-1]["approval_id"]

    for path in ("/assistant/run", "/assistant/stream"):
        response = await post(client, path, {"input": "hello?", "session_id": "hitl-6"})
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "approval_pending"
        assert approval_id in body["error"] and "send_email" in body["error"]
    # Nothing was added to the conversation; the pause is intact.
    assert await ConversationItem.objects.filter(conversation__session_id="hitl-6").acount() == 2
    assert (await Run.objects.aget(pk=run_id)).status == "awaiting_approval"
    # Other conversations are not affected.
    other = await post(client, "/assistant/run", {"input": "hello", "session_id": "hitl-6b"})
    assert other.status_code == 200


async def test_always_approves_the_tool_for_the_rest_of_the_conversation(client):
    run_id, events = await pause(client, "hitl-7")
    decision = {"id": events[-1]["approval_id"], "approve": True, "always": True}
    await post(client, f"/assistant/runs/{run_id}/approvals", {"decisions": [decision]})
    await wait_for_end(run_id)

    second = await post(
        client,
        "/assistant/stream",
        {"input": "Email carol@example.com that lunch is at noon", "session_id": "hitl-7"},
    )
    events = await read_sse(second)
    assert not any(event["type"] == "approval_requested" for event in events)
    assert events[-1]["type"] == "stream_complete"
    assert [message.to for message in mail.outbox] == [["bob@example.com"], ["carol@example.com"]]
    auto = await ToolApproval.objects.filter(run_id=second["X-Run-Id"]).aget()
    assert auto.decision == "approved" and auto.decided_by == "server"

    # Another conversation still asks.
    _, other = await pause(client, "hitl-7b")
    assert other[-1]["type"] == "approval_requested"


async def test_expired_approvals_are_rejections(client, settings):
    run_id, events = await pause(client, "hitl-8")
    await ToolApproval.objects.filter(run_id=run_id).aupdate(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    # Read lazily: the run status expires it and the run resumes with the rejection.
    status = (await client.get(f"/assistant/runs/{run_id}")).json()
    assert status["status"] in ("running", "completed") and status["approvals"] == []
    await wait_for_end(run_id)
    run = await Run.objects.aget(pk=run_id)
    assert run.status == "completed"
    approval = await ToolApproval.objects.aget(run_id=run_id)
    assert approval.decision == "expired" and approval.decided_by == "server"
    resumed = await read_sse(
        await client.get(f"/assistant/runs/{run_id}/stream?after={len(events)}")
    )
    assert "nobody approved it in time" in resumed[-1]["final_output"]
    assert mail.outbox == []


async def test_a_new_message_after_expiry_resumes_the_expired_run_first(client):
    run_id, _ = await pause(client, "hitl-9")
    await ToolApproval.objects.filter(run_id=run_id).aupdate(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = await post(
        client, "/assistant/run", {"input": "hi", "session_id": "hitl-9", "multitask": "enqueue"}
    )
    assert response.status_code == 200, response.content
    assert (await Run.objects.aget(pk=run_id)).status == "completed"
    assert (await ToolApproval.objects.aget(run_id=run_id)).decision == "expired"


def test_expire_approvals_command(transactional_db, capsys):
    import asyncio

    async def scenario() -> str:
        run_id, _ = await pause(AsyncClient(), "hitl-10")
        await ToolApproval.objects.filter(run_id=run_id).aupdate(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        return run_id

    run_id = asyncio.run(scenario())
    call_command("expire_approvals")
    assert "1 run" in capsys.readouterr().out
    assert Run.objects.get(pk=run_id).status == "completed"
    assert ToolApproval.objects.get(run_id=run_id).decision == "expired"


async def test_deleting_a_conversation_takes_its_paused_state_and_call_arguments(client):
    run_id, _ = await pause(client, "hitl-11")
    # While the call waits, the conversation is held: not deleted.
    assert (await client.delete("/assistant/session/hitl-11")).status_code == 409
    past = timezone.now() - timedelta(seconds=1)
    await ToolApproval.objects.filter(run_id=run_id).aupdate(expires_at=past)

    await Conversation.objects.filter(session_id="hitl-11").aupdate(run_lease_until=past)

    assert (await client.delete("/assistant/session/hitl-11")).status_code == 200
    run = await Run.objects.aget(pk=run_id)
    assert run.paused_state == "" and run.status == "cancelled"
    approval = await ToolApproval.objects.aget(run_id=run_id)
    assert "bob@example.com" not in approval.arguments
    assert approval.decision == "expired"
    status = await client.get(f"/assistant/runs/{run_id}")
    assert status.json()["status"] == "cancelled"


async def test_cancelling_a_paused_run_rejects_its_calls_and_frees_the_conversation(client):
    run_id, events = await pause(client, "hitl-12")
    response = await client.post(
        f"/assistant/runs/{run_id}/cancel", content_type="application/json"
    )
    assert response.status_code == 200
    await wait_for_end(run_id)
    run = await Run.objects.aget(pk=run_id)
    assert run.status == "cancelled" and run.cancelled_by == "anonymous"
    approval = await ToolApproval.objects.aget(run_id=run_id)
    assert approval.decision == "rejected" and approval.reason == "the run was cancelled"
    assert mail.outbox == []
    rest = await read_sse(await client.get(f"/assistant/runs/{run_id}/stream?after={len(events)}"))
    assert rest[-1]["type"] == "run_cancelled"
    # Every call in the history has its answer; the next message is served.
    kinds = [
        item.item_type
        async for item in ConversationItem.objects.filter(conversation__session_id="hitl-12")
    ]
    assert kinds.count("function_call") == kinds.count("function_call_output") == 1
    again = await post(client, "/assistant/run", {"input": "hi", "session_id": "hitl-12"})
    assert again.status_code == 200, again.content


async def test_a_run_that_cannot_be_resumed_fails_and_frees_its_conversation(client):
    run_id, events = await pause(client, "hitl-13")
    # As if the agent's definition had changed beyond what the stored state can be loaded into.
    await Run.objects.filter(pk=run_id).aupdate(paused_state='{"$schemaVersion": "0.0"}')
    decision = {"decisions": [{"id": events[-1]["approval_id"], "approve": True}]}
    response = await post(client, f"/assistant/runs/{run_id}/approvals", decision)
    assert response.status_code == 502
    assert response.json()["code"] == "agent_run_failed"
    run = await Run.objects.aget(pk=run_id)
    assert run.status == "failed" and "could not be resumed" in run.error
    assert mail.outbox == []
    again = await post(client, "/assistant/run", {"input": "hi", "session_id": "hitl-13"})
    assert again.status_code == 200, again.content
