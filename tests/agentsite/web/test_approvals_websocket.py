"""Deciding a paused run's tool calls over the WebSocket: the ``approval`` frame resumes the run
and its events follow on the same socket."""

from __future__ import annotations

import json

import pytest
from django.core import mail

from agentsite.models import ToolApproval
from tests.agentsite.web.test_consumers import connected

pytestmark = pytest.mark.django_db(transaction=True)

ASK = "email bob@example.com that the report is ready"


async def paused_run(socket) -> list[dict]:
    await socket.send({"type": "run", "input": ASK, "session_id": "ws-hitl"})
    events = []
    while not events or events[-1]["type"] != "approval_requested":
        events.append(await socket.receive())
    return events


async def test_an_approval_frame_resumes_the_run_on_the_socket():
    async with connected("/ws/assistant/") as socket:
        events = await paused_run(socket)
        requested = events[-1]
        assert requested["tool_name"] == "send_email"
        assert json.loads(requested["tool_arguments"])["to"] == "bob@example.com"
        # The socket is free again: the paused stream has ended.
        assert await socket.answers_ping()

        await socket.send(
            {
                "type": "approval",
                "run_id": requested["run_id"],
                "decisions": [{"id": requested["approval_id"], "approve": True}],
            }
        )
        resumed = await socket.events_until_terminal()
        assert resumed[0]["seq"] == requested["seq"] + 1
        assert {event["run_id"] for event in resumed} == {requested["run_id"]}
        assert resumed[-1]["type"] == "stream_complete"
        assert "Email sent to bob@example.com" in resumed[-1]["final_output"]
    assert [message.to for message in mail.outbox] == [["bob@example.com"]]
    approval = await ToolApproval.objects.aget(pk=requested["approval_id"])
    assert approval.decision == "approved" and approval.decided_by == "anonymous"


async def test_a_rejection_frame_and_bad_frames():
    async with connected("/ws/assistant/") as socket:
        requested = (await paused_run(socket))[-1]
        frame = {"type": "approval", "run_id": requested["run_id"]}

        await socket.send({**frame, "decisions": [{"id": "nope", "approve": True}]})
        error = await socket.receive()
        assert error["type"] == "error" and error["status"] == 422

        await socket.send(
            {
                **frame,
                "decisions": [
                    {"id": requested["approval_id"], "approve": False, "reason": "not today"}
                ],
            }
        )
        resumed = await socket.events_until_terminal()
        output = next(e for e in resumed if e.get("name") == "tool_output")["output"]
        assert "not today" in output and "not today" in resumed[-1]["final_output"]

        await socket.send(
            {**frame, "decisions": [{"id": requested["approval_id"], "approve": True}]}
        )
        late = await socket.receive()
        assert late["type"] == "error" and late["status"] == 409
    assert mail.outbox == []
