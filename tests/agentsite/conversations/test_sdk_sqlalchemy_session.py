"""The backend-independent cases of the SDK's SQLAlchemy session tests (openai-agents-python
``tests/extensions/memory/test_sqlalchemy_session.py``), run against ``SQLiteSession`` (the
control) and ``DjangoSession``.

Not ported (they test SQLAlchemySession's own machinery): ASCII escaping options, table
creation and its init lock, engine ownership and the SQLite engine registry, DELETE ... RETURNING
fallbacks with fake dialects, and the ORDER BY clauses it compiles. Ported elsewhere because
``tests/memory/test_session.py`` has the same case: the corrupt-row cases, the cancellation of a
write in progress (``test_mutation_cancellation_waits_for_transaction_exit``), the session
settings cases. The same-timestamp ordering cases are ported without forging timestamps:
neither store orders by time (``SQLiteSession`` by row id, ``DjangoSession`` by position).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from agents import Agent, Runner, TResponseInputItem
from agents.testing import ScriptedModel, assistant_message

from tests.agentsite.conversations.session_stores import Store

pytest_plugins = ["tests.agentsite.conversations.session_store_fixture"]


def message_item(item_id: str, text_value: str) -> TResponseInputItem:
    return cast(
        TResponseInputItem,
        {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [
                {"type": "output_text", "text": text_value, "annotations": [], "logprobs": []}
            ],
        },
    )


def reasoning_item(item_id: str, summary_text: str) -> TResponseInputItem:
    return cast(
        TResponseInputItem,
        {
            "id": item_id,
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": summary_text}],
        },
    )


def item_ids(items: Sequence[TResponseInputItem]) -> list[str]:
    return [cast(dict[str, Any], item)["id"] for item in items]


async def test_session_direct_ops(store: Store):
    session = store.session("direct_ops_test")
    await session.add_items(
        [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there!"}]
    )
    assert [item.get("content") for item in await session.get_items()] == ["Hello", "Hi there!"]

    popped = await session.pop_item()
    assert popped is not None
    assert popped.get("content") == "Hi there!"
    assert [item.get("content") for item in await session.get_items()] == ["Hello"]

    await session.clear_session()
    assert await session.get_items() == []


async def test_runner_integration(store: Store):
    session = store.session("runner_integration_test")
    model = ScriptedModel()
    agent = Agent(name="test", model=model)

    model.enqueue([assistant_message("San Francisco")])
    result1 = await Runner.run(agent, "What city is the Golden Gate Bridge in?", session=session)
    assert result1.final_output == "San Francisco"

    model.enqueue([assistant_message("California")])
    result2 = await Runner.run(agent, "What state is it in?", session=session)
    assert result2.final_output == "California"

    last_input = model.calls[-1].input
    assert len(last_input) > 1
    assert any("Golden Gate Bridge" in str(item.get("content", "")) for item in last_input)


async def test_session_isolation(store: Store):
    session1 = store.session("session_1")
    session2 = store.session("session_2")
    model = ScriptedModel()
    agent = Agent(name="test", model=model)

    model.enqueue([assistant_message("I like cats.")])
    await Runner.run(agent, "I like cats.", session=session1)
    model.enqueue([assistant_message("I like dogs.")])
    await Runner.run(agent, "I like dogs.", session=session2)
    model.enqueue([assistant_message("You said you like cats.")])
    await Runner.run(agent, "What animal did I say I like?", session=session1)

    sent = " ".join(str(item.get("content")) for item in model.calls[-1].input)
    assert "cats" in sent
    assert "dogs" not in sent


async def test_get_items_with_limit(store: Store):
    session = store.session("limit_test")
    await session.add_items(
        [
            {"role": "user", "content": "1"},
            {"role": "assistant", "content": "2"},
            {"role": "user", "content": "3"},
            {"role": "assistant", "content": "4"},
        ]
    )
    assert [item.get("content") for item in await session.get_items(limit=2)] == ["3", "4"]
    assert len(await session.get_items()) == 4
    assert len(await session.get_items(limit=10)) == 4


async def test_pop_from_empty_session(store: Store):
    assert await store.session("empty_session").pop_item() is None


async def test_concurrent_pop_item_returns_each_row_once(store: Store):
    writer = store.session("concurrent_pop")
    other = store.session("concurrent_pop")
    await writer.add_items(
        [{"role": "user", "content": "first"}, {"role": "assistant", "content": "second"}]
    )

    popped = await asyncio.gather(writer.pop_item(), other.pop_item())

    contents = {cast(dict[str, Any], item)["content"] for item in popped if item is not None}
    assert contents == {"first", "second"}


async def test_get_items_limit_returns_fewer_when_history_exhausted(store: Store):
    session = store.session("limit_exhausted")
    await session.add_items([{"role": "user", "content": "only valid"}])
    await store.insert_corrupt_row(session)
    retrieved = await session.get_items(limit=5)
    assert [item.get("content") for item in retrieved] == ["only valid"]


async def test_add_empty_items_list(store: Store):
    session = store.session("add_empty_test")
    assert await session.get_items() == []
    await session.add_items([])
    assert await session.get_items() == []


async def test_add_items_concurrent_first_access(store: Store):
    """Port of test_add_items_concurrent_first_access_with_create_tables and
    ..._first_write_after_tables_exist: concurrent first writes to a new session lose nothing."""
    session = store.session("concurrent_first_access")
    submitted = [f"msg-{i}" for i in range(25)]

    await asyncio.gather(
        *(session.add_items([{"role": "user", "content": content}]) for content in submitted)
    )

    stored = [item.get("content") for item in await session.get_items()]
    assert sorted(stored) == sorted(submitted)


async def test_add_items_concurrent_first_access_across_sessions(store: Store):
    """Port of test_add_items_concurrent_first_access_across_sessions_with_shared_engine."""
    sessions = [store.session(f"shared_{index}") for index in range(8)]

    await asyncio.gather(
        *(
            session.add_items([{"role": "user", "content": session.session_id}])
            for session in sessions
        )
    )

    for session in sessions:
        assert [item.get("content") for item in await session.get_items()] == [session.session_id]


async def test_get_items_keeps_insertion_order(store: Store):
    """Port of test_get_items_same_timestamp_consistent_order and
    test_get_items_orders_by_id_for_ties."""
    session = store.session("same_timestamp_test")
    await session.add_items([message_item("older_same_ts", "old")])
    await session.add_items(
        [reasoning_item("rs_same_ts", "..."), message_item("msg_same_ts", "...")]
    )

    assert item_ids(await session.get_items()) == ["older_same_ts", "rs_same_ts", "msg_same_ts"]
    assert item_ids(await session.get_items(limit=2)) == ["rs_same_ts", "msg_same_ts"]


async def test_pop_item_returns_latest_of_one_batch(store: Store):
    """Port of test_pop_item_same_timestamp_returns_latest."""
    session = store.session("same_timestamp_pop_test")
    await session.add_items(
        [reasoning_item("rs_pop_same_ts", "..."), message_item("msg_pop_same_ts", "...")]
    )

    popped = await session.pop_item()
    assert popped is not None
    assert cast(dict[str, Any], popped)["id"] == "msg_pop_same_ts"
    assert item_ids(await session.get_items()) == ["rs_pop_same_ts"]
