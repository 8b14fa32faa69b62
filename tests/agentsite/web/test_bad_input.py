"""Every malformed request gets a JSON error with the right status; nothing stored changes."""

from __future__ import annotations

import json

import pytest

from agentsite.models import Conversation, ConversationItem

pytestmark = pytest.mark.django_db(transaction=True)

USER_SURROGATE = {"role": "user", "content": "half an emoji \ud83d"}
DEEP: list = []
for _ in range(40):
    DEEP = [DEEP]

BAD_BODIES = [
    ({}, "input"),
    ({"input": ""}, "must not be empty"),
    ({"input": "   \n"}, "must not be empty"),
    ({"input": []}, "empty list"),
    ({"input": 42}, "input"),
    ({"input": None}, "input"),
    ({"input": [{"foo": 1}]}, "input item 0"),
    ({"input": [{"role": "user"}]}, "input item 0"),
    ({"input": "hi", "session_id": ""}, "session_id"),
    ({"input": "hi", "session_id": "x" * 129}, "session_id"),
    ({"input": "hi", "session_id": "a/b"}, "session_id"),
    ({"input": "hi", "session_id": "a b"}, "session_id"),
    ({"input": "hi", "session_id": "é"}, "session_id"),
    ({"input": "hi", "session_id": 7}, "session_id"),
    ({"input": "hi", "context": "not an object"}, "context"),
    # A lone surrogate would be stored, then make the openai client raise on every later turn.
    ({"input": "a\ud800b"}, "input contains a lone surrogate (U+D800) at character 1"),
    ({"input": "\udfff"}, "lone surrogate (U+DFFF)"),
    (
        {"input": [{"role": "user", "content": [{"type": "input_text", "text": "x\udc00"}]}]},
        "input[0].content[0].text contains a lone surrogate",
    ),
    ({"input": [{"role": "user", "content": "ok"}, USER_SURROGATE]}, "input[1].content"),
    ({"input": "hi", "context": {"note": "\ud83d"}}, "context.note contains a lone surrogate"),
    ({"input": "hi", "context": {"\ud800": 1}}, "(a key) contains a lone surrogate"),
    ({"input": "hi", "context": {"deep": DEEP}}, "nested more than 32 levels deep"),
]


@pytest.fixture
async def stored():
    """A conversation with two items, to prove bad requests leave it untouched."""
    from agentsite.conversations.session import DjangoSession

    session = DjangoSession("keep", agent="chat")
    await session.add_items(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    )
    return session


async def snapshot() -> list[tuple]:
    conversations = [
        c async for c in Conversation.objects.values_list("session_id", "item_count", "updated_at")
    ]
    items = [
        i async for i in ConversationItem.objects.values_list("conversation_id", "position", "data")
    ]
    return conversations + items


@pytest.mark.parametrize("endpoint", ["run", "stream"])
@pytest.mark.parametrize(("body", "mentions"), BAD_BODIES)
async def test_invalid_bodies_are_422(client, stored, endpoint, body, mentions):
    before = await snapshot()
    response = await client.post(f"/chat/{endpoint}", body, content_type="application/json")
    assert response.status_code == 422, response.content
    payload = response.json()
    assert payload["success"] is False
    assert mentions in payload["error"]
    assert await snapshot() == before


@pytest.mark.parametrize("raw", [b"{not json", b'{"input": "hi"', b"\xff\xfe", b"nul\x00l"])
async def test_malformed_json_is_400(client, stored, raw):
    before = await snapshot()
    response = await client.post("/chat/run", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"success": False, "error": "Malformed JSON in request body"}
    assert await snapshot() == before


@pytest.mark.parametrize("raw", [b"[]", b'"hi"', b"123", b"null"])
async def test_json_that_is_not_an_object_is_422(client, raw):
    response = await client.post("/chat/run", raw, content_type="application/json")
    assert response.status_code in (400, 422)
    assert response.json()["success"] is False


async def test_oversized_body_is_413(client, stored, settings):
    settings.MAX_REQUEST_BYTES = 1000
    before = await snapshot()
    body = json.dumps({"input": "x" * 2000, "session_id": "keep"})
    response = await client.post("/chat/run", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["success"] is False
    assert "too large" in response.json()["error"]
    assert await snapshot() == before


async def test_default_body_limit_is_one_megabyte(client, settings):
    assert settings.MAX_REQUEST_BYTES == 1_000_000
    body = json.dumps({"input": "x" * 1_000_001})
    response = await client.post("/chat/run", body, content_type="application/json")
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/nope/run", 404),
        ("post", "/nope/run", 404),
        ("get", "/chat/nothing", 404),
        ("get", "/chat/run", 405),
        ("put", "/chat/stream", 405),
        ("post", "/chat/info", 405),
        ("post", "/health", 405),
    ],
)
async def test_unknown_paths_and_wrong_methods(client, method, path, status):
    response = await getattr(client, method)(path)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    payload = response.json()
    assert payload["success"] is False
    assert path in payload["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/chat/session/a%20b",
        "/chat/session/" + "x" * 129,
        "/chat/session/keep?limit=0",
        "/chat/session/keep?limit=-1",
        "/chat/session/keep?limit=abc",
    ],
)
async def test_bad_session_requests_are_422(client, stored, path):
    response = await client.get(path)
    assert response.status_code == 422, response.content
    assert response.json()["success"] is False


async def test_delete_with_bad_session_id_changes_nothing(client, stored):
    before = await snapshot()
    response = await client.delete("/chat/session/bad%20id")
    assert response.status_code == 422
    assert await snapshot() == before
