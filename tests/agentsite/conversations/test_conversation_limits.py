"""What one conversation may hold (MAX_CONVERSATION_ITEMS / _BYTES) and what one read of it
returns (SESSION_PAGE_MAX_ITEMS / _BYTES): bounded, with clear answers at the bounds."""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator

from agentsite.asgi import application
from agentsite.conversations.session import DjangoSession
from agentsite.models import Conversation, ConversationItem, Run

pytestmark = pytest.mark.django_db(transaction=True)


async def turn(client, text: str, session_id: str, endpoint: str = "run"):
    return await client.post(
        f"/chat/{endpoint}",
        {"input": text, "session_id": session_id},
        content_type="application/json",
    )


async def snapshot(session_id: str) -> tuple:
    conversation = await Conversation.objects.aget(session_id=session_id)
    items = [
        row
        async for row in ConversationItem.objects.filter(conversation=conversation)
        .order_by("position")
        .values_list("position", "data")
    ]
    return conversation.item_count, conversation.stored_bytes, items, await Run.objects.acount()


async def stored_bytes_match(session_id: str) -> bool:
    conversation = await Conversation.objects.aget(session_id=session_id)
    sizes = [
        len(data.encode())
        async for data in ConversationItem.objects.filter(conversation=conversation).values_list(
            "data", flat=True
        )
    ]
    return conversation.stored_bytes == sum(sizes)


# --- storage bound ----------------------------------------------------------------------------


async def test_a_full_conversation_takes_no_further_run_on_any_transport(client, settings):
    settings.MAX_CONVERSATION_ITEMS = 4
    for text in ("one", "two"):
        assert (await turn(client, text, "full")).status_code == 200
    before = await snapshot("full")
    assert before[0] == 4

    refused_run = await turn(client, "three", "full")
    refused_stream = await turn(client, "three", "full", "stream")
    socket = WebsocketCommunicator(
        application,
        "/ws/chat/",
        headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")],
    )
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "run", "input": "three", "session_id": "full"})
    refused_frame = await socket.receive_json_from(5)
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(5) == {"type": "pong"}
    await socket.disconnect()

    assert refused_run.status_code == 409
    body = refused_run.json()
    assert (body["success"], body["code"], body["final_output"]) == (
        False,
        "conversation_full",
        None,
    )
    assert "holds 4 items" in body["error"] and "limit is 4 items" in body["error"]
    assert refused_stream.status_code == 409
    assert refused_stream.json()["code"] == "conversation_full"
    assert (refused_frame["type"], refused_frame["status"]) == ("error", 409)
    assert refused_frame["code"] == "conversation_full"
    assert await snapshot("full") == before, "nothing stored, no run recorded"
    # Another conversation is unaffected; deleting this one frees its name.
    assert (await turn(client, "hello", "other")).status_code == 200
    assert (await client.delete("/chat/session/full")).status_code == 200
    assert (await turn(client, "again", "full")).status_code == 200


async def test_the_byte_limit_counts_what_is_stored_and_the_new_input(client, settings):
    settings.MAX_CONVERSATION_BYTES = 2_000
    assert (await turn(client, "x" * 100, "bytes")).status_code == 200
    assert await stored_bytes_match("bytes")
    before = await snapshot("bytes")

    too_big = await turn(client, "y" * 2_000, "bytes")

    assert too_big.status_code == 409 and too_big.json()["code"] == "conversation_full"
    assert await snapshot("bytes") == before
    # A new conversation whose first input alone is over the limit is refused too.
    assert (await turn(client, "z" * 2_100, "new")).status_code == 409
    assert not await Conversation.objects.filter(session_id="new", item_count__gt=0).aexists()


async def test_stored_bytes_follow_every_change(client):
    session = DjangoSession("sizes", agent="chat")
    await session.add_items(
        [
            {"role": "user", "content": "café ☕"},
            {"role": "assistant", "content": "noted"},
            {"role": "user", "content": "again \ud800"},
            {"role": "assistant", "content": "ok"},
        ]
    )
    assert await stored_bytes_match("sizes")
    await session.pop_item()
    assert await stored_bytes_match("sizes")
    await session.rewind_last_turn()
    assert await stored_bytes_match("sizes")
    assert (await Conversation.objects.aget(session_id="sizes")).stored_bytes > 0


# --- bounded reads ----------------------------------------------------------------------------


@pytest.fixture
async def long_conversation():
    session = DjangoSession("long", agent="chat")
    items = [{"role": "user", "content": f"message {number}"} for number in range(25)]
    await session.add_items(items)
    return items


async def read(client, query: str = "") -> dict:
    response = await client.get(f"/chat/session/long{query}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True and body["error"] is None
    assert body["message_count"] == len(body["messages"])
    return body


async def test_reads_come_in_pages_of_at_most_the_maximum(client, settings, long_conversation):
    settings.SESSION_PAGE_MAX_ITEMS = 10
    pages = [await read(client)]
    while pages[-1]["has_more"]:
        pages.append(await read(client, f"?before={pages[-1]['next_before']}"))

    assert [page["message_count"] for page in pages] == [10, 10, 5]
    assert {page["total"] for page in pages} == {25}
    assert [page["next_before"] is None for page in pages] == [False, False, True]
    together = [item for page in reversed(pages) for item in page["messages"]]
    assert together == long_conversation


async def test_limit_still_means_the_latest_n_and_is_capped(client, settings, long_conversation):
    settings.SESSION_PAGE_MAX_ITEMS = 10
    latest = await read(client, "?limit=3")
    capped = await read(client, "?limit=100000")

    assert latest["messages"] == long_conversation[-3:] and latest["has_more"] is True
    assert capped["messages"] == long_conversation[-10:]
    assert (await read(client, "?limit=5&before=5"))["messages"] == long_conversation[:5]


async def test_a_page_is_cut_at_its_byte_budget(client, settings, long_conversation):
    one_item = len(json.dumps(long_conversation[-1]))
    settings.SESSION_PAGE_MAX_BYTES = one_item * 3
    page = await read(client)
    assert page["messages"] == long_conversation[-3:]
    assert page["has_more"] is True and page["total"] == 25
    settings.SESSION_PAGE_MAX_BYTES = 1  # one item is always returned, however large
    assert (await read(client))["messages"] == long_conversation[-1:]


async def test_an_unknown_session_reads_as_empty(client):
    body = (await client.get("/chat/session/nobody")).json()
    assert (body["messages"], body["total"], body["has_more"], body["next_before"]) == (
        [],
        0,
        False,
        None,
    )


def test_the_migration_counts_what_existing_conversations_store(transactional_db):
    """Migration 0005 fills stored_bytes for the conversations that exist already."""
    import importlib

    from asgiref.sync import async_to_sync
    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("agentsite.migrations.0005_input_conversation_bytes")
    session = DjangoSession("old", agent="chat")
    async_to_sync(session.add_items)(
        [{"role": "user", "content": "café ☕ " * 10}, {"role": "assistant", "content": "ok"}]
    )
    expected = Conversation.objects.get(session_id="old").stored_bytes
    Conversation.objects.update(stored_bytes=0)
    with connection.schema_editor() as editor:
        migration.count_stored_bytes(apps, editor)
    assert Conversation.objects.get(session_id="old").stored_bytes == expected > 70
