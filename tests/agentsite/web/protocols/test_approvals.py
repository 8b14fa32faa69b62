"""Approvals over the client protocols (DESIGN.md §9): a tool call needing approval pauses the
run; the AI SDK's approval response and AG-UI's ``resume[]`` decide it, and the same reply
goes on. The assistant's ``send_email`` needs approval; mail goes to Django's test outbox."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core import mail

from tests.agentsite.web.protocols.test_ag_ui import decode as decode_ag_ui
from tests.agentsite.web.protocols.test_http import ag_body, post, read, ui_body

pytestmark = pytest.mark.django_db(transaction=True)

ASK = "Please email bob@example.com that the report is ready"


def chunks_of(raw: bytes) -> list[dict[str, Any]]:
    blocks = [b for b in raw.decode().split("\n\n") if b.strip() and "[DONE]" not in b]
    return [json.loads(block.split("data: ", 1)[1]) for block in blocks]


async def pause_ui_chat(client, session: str) -> tuple[str, dict[str, Any], list[dict]]:
    first = ui_body(ASK, session=session)
    response = await post(client, "/assistant/ui/chat", first)
    chunks = chunks_of(await read(response))
    requests = [chunk for chunk in chunks if chunk["type"] == "tool-approval-request"]
    assert len(requests) == 1
    assert chunks[-1]["type"] == "finish" and chunks[-1]["finishReason"] == "tool-calls"
    return response["X-Run-Id"], requests[0], first["messages"]


def answered(run_id: str, request: dict[str, Any], approved: bool) -> dict[str, Any]:
    """The reply as useChat holds it after ``addToolApprovalResponse``."""
    approval = {"id": request["approvalId"], "approved": approved}
    if not approved:
        approval["reason"] = "not today"
    part = {
        "type": "tool-send_email",
        "toolCallId": request["toolCallId"],
        "state": "approval-responded",
        "input": {},
        "approval": approval,
    }
    return {"id": run_id, "role": "assistant", "parts": [{"type": "step-start"}, part]}


@pytest.mark.parametrize("approved", [True, False])
async def test_ui_chat_approval_response_resumes_the_reply(client, approved):
    run_id, request, messages = await pause_ui_chat(client, f"appr-{approved}")
    body = {
        "id": f"appr-{approved}",
        "trigger": "submit-message",
        "messageId": run_id,
        "messages": [*messages, answered(run_id, request, approved)],
    }
    response = await post(client, "/assistant/ui/chat", body)
    assert response.status_code == 200
    chunks = chunks_of(await read(response))
    assert chunks[0]["type"] == "start" and chunks[0]["messageId"] == run_id
    outcome = "tool-output-available" if approved else "tool-output-denied"
    assert [c["toolCallId"] for c in chunks if c["type"] == outcome] == [request["toolCallId"]]
    assert chunks[-1]["type"] == "finish" and chunks[-1]["finishReason"] == "stop"
    assert len(mail.outbox) == (1 if approved else 0)


async def test_ui_chat_refuses_a_bad_approval_response(client):
    run_id, request, messages = await pause_ui_chat(client, "appr-bad")
    reply = answered(run_id, request, True)
    reply["parts"][1]["approval"]["id"] = "not-a-uuid"
    body = {"id": "appr-bad", "trigger": "submit-message", "messages": [*messages, reply]}
    assert (await post(client, "/assistant/ui/chat", body)).status_code == 422
    assert not mail.outbox


@pytest.mark.parametrize("status", ["resolved", "cancelled"])
async def test_ag_ui_interrupt_answered_with_resume(client, status):
    first = await post(client, "/assistant/ag-ui", ag_body(ASK, thread=f"int-{status}"))
    sent = decode_ag_ui(await read(first))
    finished = sent[-1][1]
    assert finished["type"] == "RUN_FINISHED" and finished["outcome"]["type"] == "interrupt"
    interrupt = finished["outcome"]["interrupts"][0]
    assert interrupt["reason"] == "tool_approval" and interrupt["toolCallId"]
    resume = [{"interruptId": interrupt["id"], "status": status}]
    body = {**ag_body(thread=f"int-{status}"), "runId": "r2", "messages": [], "resume": resume}
    second = await post(client, "/assistant/ag-ui", body)
    assert second.status_code == 200
    events = [event for _, event in decode_ag_ui(await read(second))]
    assert events[0] == {"type": "RUN_STARTED", "threadId": f"int-{status}", "runId": "r2"}
    results = [e for e in events if e["type"] == "TOOL_CALL_RESULT"]
    assert [e["toolCallId"] for e in results] == [interrupt["toolCallId"]]
    assert events[-1]["type"] == "RUN_FINISHED"
    assert events[-1]["outcome"] == {"type": "success"}
    assert len(mail.outbox) == (1 if status == "resolved" else 0)
    again = await post(client, "/assistant/ag-ui", body)
    assert again.status_code == 409
