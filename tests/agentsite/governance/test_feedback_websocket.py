"""Feedback over the WebSocket: the ``feedback`` frame rates a reply (``feedback_saved``
answers), a null rating clears it, and a frame that cannot be served gets an ``error`` event
with the HTTP API's status while the socket stays open."""

from __future__ import annotations

import pytest

from agentsite.models import Feedback
from tests.agentsite.web.test_consumers import connected

pytestmark = pytest.mark.django_db(transaction=True)


async def one_turn(socket, session_id: str) -> None:
    await socket.send({"type": "run", "input": "hello", "session_id": session_id})
    events = await socket.events_until_terminal()
    assert events[-1]["type"] == "stream_complete"


async def test_a_feedback_frame_rates_a_reply_and_a_null_rating_clears_it():
    async with connected("/ws/chat/") as socket:
        await one_turn(socket, "ws-fb")
        # Positions 0 (the user's message) and 1 (the reply).
        frame = {"type": "feedback", "session_id": "ws-fb", "position": 1}

        await socket.send({**frame, "rating": "down", "comment": "too short"})
        saved = await socket.receive()

        assert saved["type"] == "feedback_saved"
        assert (saved["session_id"], saved["position"]) == ("ws-fb", 1)
        assert saved["feedback"]["rating"] == "down"
        assert saved["feedback"]["comment"] == "too short"
        stored = await Feedback.objects.aget()
        assert (stored.position, stored.rating, stored.owner_key) == (1, "down", "anonymous")

        await socket.send({**frame, "rating": None})
        cleared = await socket.receive()

        assert cleared["type"] == "feedback_saved" and cleared["feedback"] is None
        assert await Feedback.objects.acount() == 0


async def test_feedback_frames_that_cannot_be_served_are_answered_with_errors():
    async with connected("/ws/chat/") as socket:
        await one_turn(socket, "ws-fb-bad")
        frame = {"type": "feedback", "session_id": "ws-fb-bad", "position": 1}

        await socket.send({**frame, "rating": "meh"})
        invalid = await socket.receive()
        await socket.send({**frame, "position": 0, "rating": "up"})
        not_a_reply = await socket.receive()
        await socket.send({**frame, "position": 7, "rating": "up"})
        missing = await socket.receive()
        await socket.send({**frame, "session_id": "someone-else", "rating": "up"})
        other_session = await socket.receive()

        assert invalid["type"] == "error" and invalid["status"] == 422
        assert "rating" in invalid["message"]
        assert not_a_reply["status"] == 422 and not_a_reply["code"] == "not_an_assistant_reply"
        assert missing["status"] == 404 and other_session["status"] == 404
        assert await socket.answers_ping()
    assert await Feedback.objects.acount() == 0
