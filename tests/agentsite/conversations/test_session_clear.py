"""What ``DjangoSession`` does beyond ``SQLiteSession`` when history is rewritten: clearing keeps
the conversation (the SDK's compaction wrapper clears and adds), deleting removes it, a pop can
be made conditional, and every such change is all or nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from agents.memory import OpenAIResponsesCompactionSession
from django.db import connection

from agentsite.conversations.dbthread import on_every_database_thread
from agentsite.conversations.session import DjangoSession
from agentsite.models import Conversation, ConversationItem, Run
from tests.agentsite.conversations.session_stores import DjangoStore

pytestmark = pytest.mark.django_db(transaction=True)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def chat_session(session_id: str = "s") -> DjangoSession:
    return DjangoSession(session_id, agent="chat", owner="anonymous")


async def positions(conversation: Conversation) -> list[int]:
    rows = ConversationItem.objects.filter(conversation=conversation).order_by("position")
    return [position async for position in rows.values_list("position", flat=True)]


async def conversation_with_history(session: DjangoSession) -> tuple[Conversation, Run]:
    """A conversation with a title, token totals and a run of its own, as a real one has."""
    await session.add_items([user("What is compaction?"), user("tell me more"), user("and more")])
    conversation = await session.get_conversation()
    assert conversation is not None
    await Conversation.objects.filter(pk=conversation.pk).aupdate(
        requests=3, input_tokens=120, output_tokens=45, total_tokens=165
    )
    run = await Run.objects.acreate(
        conversation=conversation, agent="chat", session_id=session.session_id, status="completed"
    )
    await conversation.arefresh_from_db()
    return conversation, run


async def assert_same_conversation(before: Conversation, run: Run, item_count: int) -> None:
    after = await Conversation.objects.aget(pk=before.pk)
    assert (after.title, after.created_at) == (before.title, before.created_at)
    assert (after.requests, after.input_tokens, after.output_tokens, after.total_tokens) == (
        3,
        120,
        45,
        165,
    )
    assert after.item_count == item_count
    assert [pk async for pk in after.runs.values_list("pk", flat=True)] == [run.pk]
    assert await Conversation.objects.acount() == 1


async def test_clear_keeps_the_conversation_its_metadata_and_runs():
    session = chat_session("kept")
    before, run = await conversation_with_history(session)

    await session.clear_session()

    assert await session.get_items() == []
    await assert_same_conversation(before, run, item_count=0)

    await session.add_items([user("after"), user("the clear")])
    assert await session.get_items() == [user("after"), user("the clear")]
    assert await positions(before) == [3, 4]
    await assert_same_conversation(before, run, item_count=2)
    # Another instance, which has not seen the pk yet, finds the same conversation.
    assert await chat_session("kept").get_items() == [user("after"), user("the clear")]


class CompactingClient:
    """Stands in for ``AsyncOpenAI`` at the boundary: ``responses.compact`` answers with a
    fixed summary and records what it was sent."""

    def __init__(self, output: list[dict[str, Any]]) -> None:
        self.output = output
        self.requests: list[dict[str, Any]] = []
        self.responses = SimpleNamespace(compact=self.compact)

    async def compact(self, **kwargs: Any) -> Any:
        self.requests.append(kwargs)
        return SimpleNamespace(output=self.output, usage=None)


async def test_compaction_wrapper_keeps_the_conversation():
    """``OpenAIResponsesCompactionSession`` over ``DjangoSession`` replaces history by clear +
    add: the conversation keeps its pk, title, created time, totals and runs."""
    session = chat_session("compacted")
    before, run = await conversation_with_history(session)
    summary = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Q"}]},
        {"type": "compaction", "id": "cmp_1", "encrypted_content": "summary"},
    ]
    client = CompactingClient(summary)
    compacting = OpenAIResponsesCompactionSession(
        "compacted", underlying_session=session, client=client, compaction_mode="input"
    )

    await compacting.run_compaction({"force": True})

    assert len(client.requests) == 1
    assert [item["content"] for item in client.requests[0]["input"]] == [
        "What is compaction?",
        "tell me more",
        "and more",
    ]
    assert await session.get_items() == summary
    await assert_same_conversation(before, run, item_count=2)
    assert await positions(before) == [3, 4]


async def test_delete_conversation_removes_it_and_unlinks_its_runs():
    session = chat_session("deleted")
    conversation, run = await conversation_with_history(session)

    await session.delete_conversation()

    assert await Conversation.objects.acount() == 0
    assert await ConversationItem.objects.acount() == 0
    await run.arefresh_from_db()
    assert run.conversation_id is None
    assert await session.get_items() == []
    await session.add_items([user("again")])
    renewed = await session.get_conversation()
    assert renewed is not None
    assert renewed.pk != conversation.pk
    assert (renewed.title, renewed.item_count) == ("again", 1)


async def test_delete_conversation_of_a_session_that_never_existed_is_fine():
    await chat_session("never").delete_conversation()
    assert await Conversation.objects.acount() == 0


@asynccontextmanager
async def failing_statement(matches: Callable[[str], bool]) -> AsyncIterator[None]:
    """Make the database thread's statements that ``matches`` fail, after the ones before
    them in their transaction have run."""

    def fail(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        if matches(sql):
            raise RuntimeError("statement failed")
        return execute(sql, *args)

    # On every database thread: with DATABASE_THREADS > 1 the change may run on any of them.
    await on_every_database_thread(lambda: connection.execute_wrappers.append(fail))
    try:
        yield
    finally:
        await on_every_database_thread(lambda: connection.execute_wrappers.remove(fail))


def updates_conversation(sql: str) -> bool:
    table = connection.ops.quote_name(Conversation._meta.db_table)
    return sql.lstrip().upper().startswith(f"UPDATE {table}".upper())


@pytest.mark.parametrize("operation", ["clear", "pop"])
async def test_a_change_that_fails_midway_changes_nothing(operation):
    """The items are deleted before the conversation's counters are updated: when that update
    fails, the deletion is rolled back with it."""
    session = chat_session(f"failing-{operation}")
    items = [user("one"), user("two")]
    await session.add_items(items)
    before = await session.get_conversation()
    assert before is not None

    async with failing_statement(updates_conversation):
        with pytest.raises(RuntimeError):
            if operation == "clear":
                await session.clear_session()
            else:
                await session.pop_item()

    assert await session.get_items() == items
    after = await session.get_conversation()
    assert after is not None
    assert (after.item_count, after.next_position, after.updated_at) == (
        2,
        2,
        before.updated_at,
    )


# --- conditional pop, unreadable rows --------------------------------------------------------


class Refused(Exception):
    pass


async def test_pop_with_validation_keeps_a_rejected_item_where_it_was():
    session = chat_session("validated")
    await session.add_items([user("old"), user("refused")])
    seen: list[Any] = []

    def refuse(item: Any) -> None:
        seen.append(item)
        raise Refused

    with pytest.raises(Refused):
        await session.pop_item_with_validation(refuse)

    assert seen == [user("refused")]
    assert await session.get_items() == [user("old"), user("refused")]
    conversation = await session.get_conversation()
    assert conversation is not None
    assert (conversation.item_count, await positions(conversation)) == (2, [0, 1])
    assert await session.pop_item_with_validation(seen.append) == user("refused")
    assert await session.get_items() == [user("old")]


async def test_pop_with_validation_drops_unreadable_rows_even_when_it_refuses():
    """As in ``SQLiteSession``: the unreadable rows above the refused item are gone for good
    (they are committed before the refusal is raised); the refused item stays."""
    session = chat_session("validated-corrupt")
    store = DjangoStore()
    await session.add_items([user("kept")])
    await store.insert_corrupt_row(session)
    await store.insert_corrupt_row(session)

    def refuse(item: Any) -> None:
        raise Refused

    with pytest.raises(Refused):
        await session.pop_item_with_validation(refuse)

    conversation = await session.get_conversation()
    assert conversation is not None
    assert (conversation.item_count, await positions(conversation)) == (1, [0])
    assert await session.get_items() == [user("kept")]


async def test_unreadable_rows_are_skipped_and_counted_out_when_dropped():
    session = chat_session("corrupt")
    store = DjangoStore()
    await session.add_items([user("a")])
    await store.insert_corrupt_row(session)
    await session.add_items([user("b")])
    await store.insert_corrupt_row(session, "")
    await store.insert_corrupt_row(session, '{"role": "user", "content": "cut off')

    assert await session.get_items() == [user("a"), user("b")]
    assert await session.get_items(limit=1) == [user("b")]
    assert await session.get_items(limit=2) == [user("a"), user("b")]
    assert await session.get_items(limit=-1) == [user("a"), user("b")]

    assert await session.pop_item() == user("b")
    conversation = await session.get_conversation()
    assert conversation is not None
    # "b" and the two unreadable rows after it are gone; the one between "a" and "b" stays.
    assert (conversation.item_count, await positions(conversation)) == (2, [0, 1])
    assert await session.pop_item() == user("a")
    assert await session.pop_item() is None
    await conversation.arefresh_from_db()
    assert (conversation.item_count, await positions(conversation)) == (0, [])
