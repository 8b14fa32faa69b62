import pytest

from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)


async def test_stream_offline_two_turns(client):
    first = await client.post(
        "/chat/stream",
        {"input": "My name is Ada and I work as a nurse.", "session_id": "smoke"},
        content_type="application/json",
    )
    events = parse_sse(b"".join([chunk async for chunk in first.streaming_content]))
    assert events[0]["type"] == "agent_updated"
    assert events[-1]["type"] == "stream_complete"
    second = await client.post(
        "/chat/run",
        {"input": "What work do I do?", "session_id": "smoke"},
        content_type="application/json",
    )
    body = second.json()
    assert body["success"] is True
    assert "I work as a nurse" in body["final_output"]
