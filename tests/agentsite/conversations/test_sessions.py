"""``DjangoSession`` beyond the shared contract: concurrency, counters, ownership, real runs.

The cases both stores must pass live in ``test_session_contract.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from agents import Agent, Runner
from agents.memory.session import _session_accepts_wrapper
from agents.run_context import RunContextWrapper
from agents.testing import ScriptedModel, assistant_message
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import connection, connections

from agentsite.conversations.session import DjangoSession, SessionOwnerMismatch
from agentsite.models import Conversation, ConversationItem

pytestmark = pytest.mark.django_db(transaction=True)

T = TypeVar("T")


@dataclass(frozen=True)
class Caller:
    """A run context as the session sees it: only ``owner`` matters."""

    owner: str


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def chat_session(session_id: str = "s", **kwargs: Any) -> DjangoSession:
    kwargs.setdefault("agent", "chat")
    kwargs.setdefault("owner", "anonymous")
    return DjangoSession(session_id, **kwargs)


async def positions(session: DjangoSession) -> list[int]:
    rows = ConversationItem.objects.filter(
        conversation__owner_key=session.owner,
        conversation__agent=session.agent,
        conversation__session_id=session.session_id,
    ).order_by("position")
    return [position async for position in rows.values_list("position", flat=True)]


async def as_own_request(work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` the way Django runs one ASGI request: its own sync thread and connection.

    Without this every ``sync_to_async`` call of every task shares one thread, so "concurrent"
    transactions would in fact take turns.
    """
    async with ThreadSensitiveContext():
        try:
            return await work()
        finally:
            await sync_to_async(connections.close_all)()


def skip_without_concurrent_writers() -> None:
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        # pytest-django's SQLite test database is shared-cache in-memory, whose table locks fail
        # at once ("database table is locked") instead of waiting as a WAL file database does.
        pytest.skip("needs a test database that several connections can write to")


# --- concurrency -----------------------------------------------------------------------------


def task_items(task: int, count: int = 5) -> list[dict[str, Any]]:
    return [user(f"t{task:02d}-{index}") for index in range(count)]


def assert_batches_intact(items: list[dict[str, Any]], tasks: int, per_task: int) -> None:
    """Nothing lost, and every add_items call landed as one contiguous, ordered run."""
    assert len(items) == tasks * per_task
    contents = [item["content"] for item in items]
    assert sorted(contents) == sorted(
        item["content"] for task in range(tasks) for item in task_items(task, per_task)
    )
    for start in range(0, len(contents), per_task):
        run = contents[start : start + per_task]
        task = run[0].split("-")[0]
        assert run == [f"{task}-{index}" for index in range(per_task)], run


@pytest.mark.parametrize("own_connection", [False, True], ids=["shared-thread", "per-request"])
async def test_concurrent_adds_to_one_session_lose_nothing(own_connection):
    session = chat_session("busy")

    async def add(task: int) -> None:
        await session.add_items(task_items(task))

    if own_connection:
        skip_without_concurrent_writers()
        await asyncio.gather(*(as_own_request(lambda t=task: add(t)) for task in range(50)))
    else:
        await asyncio.gather(*(add(task) for task in range(50)))

    items = await session.get_items()
    assert_batches_intact(items, tasks=50, per_task=5)
    assert await positions(session) == list(range(250))
    conversation = await session.get_conversation()
    assert conversation is not None
    assert (conversation.item_count, conversation.next_position) == (250, 250)
    assert await Conversation.objects.acount() == 1


async def test_concurrent_adds_to_different_sessions_stay_apart():
    skip_without_concurrent_writers()
    sessions = [chat_session(f"s{index}") for index in range(10)]

    async def add(session: DjangoSession, task: int) -> None:
        await session.add_items(task_items(task, 3))

    await asyncio.gather(
        *(
            as_own_request(lambda s=session, t=task: add(s, t))
            for task in range(5)
            for session in sessions
        )
    )
    for session in sessions:
        assert_batches_intact(await session.get_items(), tasks=5, per_task=3)
        assert await positions(session) == list(range(15))
    assert await Conversation.objects.acount() == 10


async def test_concurrent_pops_each_take_a_different_item():
    skip_without_concurrent_writers()
    session = chat_session("pops")
    await session.add_items([user(f"m{index}") for index in range(20)])

    popped = await asyncio.gather(
        *(as_own_request(session.pop_item) for _ in range(25)), return_exceptions=True
    )
    assert not [result for result in popped if isinstance(result, BaseException)]
    taken = [item["content"] for item in popped if item is not None]
    assert sorted(taken) == sorted(f"m{index}" for index in range(20))
    assert popped.count(None) == 5
    assert await session.get_items() == []
    conversation = await session.get_conversation()
    assert conversation is not None
    assert conversation.item_count == 0


# --- the Conversation row --------------------------------------------------------------------


async def assert_counters_match_rows(session: DjangoSession) -> Conversation:
    conversation = await session.get_conversation()
    assert conversation is not None
    stored = await positions(session)
    assert conversation.item_count == len(stored)
    assert all(position < conversation.next_position for position in stored)
    return conversation


async def test_conversation_counters_follow_add_pop_and_clear():
    session = chat_session("counters")
    assert await session.get_conversation() is None

    await session.add_items(
        [{"role": "developer", "content": "Be brief."}, user("  Hello\n  there,   Ada  ")]
    )
    first = await assert_counters_match_rows(session)
    assert (first.item_count, first.next_position) == (2, 2)
    assert first.title == "Hello there, Ada"
    assert first.created_at <= first.updated_at

    await asyncio.sleep(0.002)
    await session.add_items([assistant_message("Hi!").model_dump(), user("Second question")])
    second = await assert_counters_match_rows(session)
    assert (second.item_count, second.next_position) == (4, 4)
    assert second.title == "Hello there, Ada"
    assert second.updated_at > first.updated_at
    assert second.created_at == first.created_at

    await asyncio.sleep(0.002)
    assert await session.pop_item() == user("Second question")
    popped = await assert_counters_match_rows(session)
    assert (popped.item_count, popped.next_position) == (3, 4)
    assert popped.updated_at > second.updated_at
    assert await positions(session) == [0, 1, 2]

    await session.add_items([user("Replacement")])
    assert await positions(session) == [0, 1, 2, 4]
    again = await assert_counters_match_rows(session)
    assert (again.item_count, again.next_position) == (4, 5)

    while await session.pop_item() is not None:
        pass
    drained = await assert_counters_match_rows(session)
    assert (drained.item_count, drained.next_position) == (0, 5)

    await session.add_items([user("after draining")])
    refilled = await assert_counters_match_rows(session)
    assert (refilled.item_count, refilled.next_position) == (1, 6)

    await session.clear_session()
    cleared = await assert_counters_match_rows(session)
    assert (cleared.pk, cleared.item_count, cleared.next_position) == (first.pk, 0, 6)
    assert await ConversationItem.objects.acount() == 0

    await session.add_items([user("A fresh start"), user("and more")])
    assert await positions(session) == [6, 7]
    fresh = await assert_counters_match_rows(session)
    assert (fresh.item_count, fresh.next_position, fresh.title) == (2, 8, "Hello there, Ada")
    assert await session.get_items() == [user("A fresh start"), user("and more")]
    assert await session.get_items(limit=1) == [user("and more")]

    await session.delete_conversation()
    assert await session.get_conversation() is None
    await session.add_items([user("A new conversation")])
    new = await assert_counters_match_rows(session)
    assert (new.item_count, new.next_position, new.title) == (1, 1, "A new conversation")
    assert new.pk != first.pk


async def test_a_large_add_is_stored_whole_and_in_order():
    """One add of more items than one INSERT statement carries (they are chunked)."""
    session = chat_session("large")
    items = [user(f"message {index}") for index in range(1_234)]

    await session.add_items(items)

    assert await session.get_items() == items
    assert await session.get_items(limit=3) == items[-3:]
    assert await positions(session) == list(range(1_234))
    counted = await assert_counters_match_rows(session)
    assert (counted.item_count, counted.next_position) == (1_234, 1_234)


async def test_a_conversation_deleted_elsewhere_is_recreated_on_the_next_add():
    """A session that knows its conversation's pk must not write to a row that is gone."""
    session = chat_session("recreated")
    await session.add_items([user("first")])
    await Conversation.objects.filter(session_id="recreated").adelete()

    await session.add_items([user("second")])

    assert await session.get_items() == [user("second")]
    counted = await assert_counters_match_rows(session)
    assert (counted.item_count, counted.title) == (1, "second")


async def test_pop_on_empty_does_not_create_a_conversation():
    session = chat_session("ghost")
    assert await session.pop_item() is None
    await session.clear_session()
    assert await session.get_items() == []
    assert await Conversation.objects.acount() == 0


async def test_empty_add_does_not_create_a_conversation():
    await chat_session("ghost").add_items([])
    assert await Conversation.objects.acount() == 0


@pytest.mark.parametrize(
    ("items", "title"),
    [
        ([{"role": "assistant", "content": "no user yet"}], ""),
        ([user("   ")], ""),
        (
            [
                {"role": "system", "content": "sys"},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_image", "image_url": "data:image/png;base64,AA"},
                        {"type": "input_text", "text": "Look at"},
                        {"type": "input_text", "text": "this\tpicture"},
                    ],
                },
            ],
            "Look at this picture",
        ),
        ([user("x" * 79)], "x" * 79),
        ([user("x" * 80)], "x" * 80),
        ([user("x" * 81)], "x" * 79 + "…"),
        ([user("日本語" * 40)], ("日本語" * 40)[:79] + "…"),
    ],
)
async def test_title_is_the_first_thing_the_user_said(items, title):
    session = chat_session("titled")
    await session.add_items(items)
    conversation = await session.get_conversation()
    assert conversation is not None
    assert conversation.title == title


async def test_title_is_set_by_a_later_add_when_the_first_had_no_user_text():
    session = chat_session("late-title")
    await session.add_items([{"role": "developer", "content": "rules"}])
    await session.add_items([user("Now the user speaks"), user("and again")])
    await session.add_items([user("ignored")])
    conversation = await session.get_conversation()
    assert conversation is not None
    assert conversation.title == "Now the user speaks"


@pytest.mark.parametrize(
    ("text", "kept_verbatim"),
    [
        ("emoji 👩‍👩‍👧‍👦", True),
        ("e\u0301 שלום 你好 \u200f", True),
        ("a\u0000b", False),
        ("\u0000", False),
        ("half an emoji \ud83d", False),
    ],
)
async def test_awkward_first_user_message_is_stored_and_titled(text, kept_verbatim):
    """The title is derived from user text, so it must survive whatever the item survives.

    PostgreSQL text cannot hold NUL and neither backend can encode a lone surrogate, so the title
    may drop or replace those, but they must never make the add fail.
    """
    session = chat_session("awkward")
    await session.add_items([user(text)])
    assert await session.get_items() == [user(text)]
    conversation = await session.get_conversation()
    assert conversation is not None
    if kept_verbatim:
        assert conversation.title == text.strip()


async def test_role_and_type_are_recorded_for_display():
    session = chat_session("display")
    await session.add_items(
        [
            user("hi"),
            assistant_message("hello").model_dump(),
            {"type": "function_call_output", "call_id": "c", "output": "{}"},
        ]
    )
    rows = ConversationItem.objects.order_by("position").values_list("role", "item_type")
    assert [row async for row in rows] == [
        ("user", "message"),
        ("assistant", "message"),
        ("", "function_call_output"),
    ]


# --- who may use a session -------------------------------------------------------------------


def test_sdk_passes_the_run_context_to_django_session():
    assert _session_accepts_wrapper(chat_session()) is True


async def test_wrapper_with_a_different_owner_is_refused_by_every_verb():
    session = chat_session("mine", owner="user:1")
    await session.add_items([user("private")])
    intruder = RunContextWrapper(context=Caller(owner="user:2"))

    with pytest.raises(SessionOwnerMismatch):
        await session.get_items(wrapper=intruder)
    with pytest.raises(SessionOwnerMismatch):
        await session.get_items(limit=1, wrapper=intruder)
    with pytest.raises(SessionOwnerMismatch):
        await session.add_items([user("injected")], wrapper=intruder)
    with pytest.raises(SessionOwnerMismatch):
        await session.add_items([], wrapper=intruder)
    with pytest.raises(SessionOwnerMismatch):
        await session.pop_item(wrapper=intruder)
    with pytest.raises(SessionOwnerMismatch):
        await session.clear_session(wrapper=intruder)

    assert await session.get_items() == [user("private")]


async def test_wrapper_with_the_same_owner_is_accepted():
    session = chat_session("mine", owner="user:1")
    owner = RunContextWrapper(context=Caller(owner="user:1"))
    await session.add_items([user("a"), user("b")], wrapper=owner)
    assert await session.get_items(wrapper=owner) == [user("a"), user("b")]
    assert await session.get_items(limit=1, wrapper=owner) == [user("b")]
    assert await session.pop_item(wrapper=owner) == user("b")
    await session.clear_session(wrapper=owner)
    assert await session.get_items(wrapper=owner) == []


async def test_same_session_id_under_two_owners_or_agents_is_two_conversations():
    mine = chat_session("default", owner="user:1")
    theirs = chat_session("default", owner="user:2")
    anonymous = chat_session("default")
    research = chat_session("default", agent="research", owner="user:1")
    everyone = [mine, theirs, anonymous, research]
    for session in everyone:
        await session.add_items([user(f"{session.owner}/{session.agent}")])
    await mine.add_items([user("more")])

    assert await theirs.pop_item() == user("user:2/chat")
    await anonymous.clear_session()

    assert await mine.get_items() == [user("user:1/chat"), user("more")]
    assert await theirs.get_items() == []
    assert await anonymous.get_items() == []
    assert await research.get_items() == [user("user:1/research")]
    # Cleared, not deleted: the anonymous conversation is still there, empty.
    assert await Conversation.objects.acount() == 4
    await anonymous.delete_conversation()
    assert await Conversation.objects.acount() == 3
    assert await mine.get_items() == [user("user:1/chat"), user("more")]


# --- through the SDK's Runner ----------------------------------------------------------------


async def test_runner_stores_the_turn_and_replays_it_on_the_next_run():
    model = ScriptedModel([[assistant_message("Hello Ada!")], [assistant_message("You are Ada.")]])
    agent = Agent(name="chat", instructions="Be brief.", model=model)
    session = chat_session("runner")

    first = await Runner.run(agent, "My name is Ada.", session=session)
    assert first.final_output == "Hello Ada!"
    stored = await session.get_items()
    assert [(item.get("role"), item.get("type", "message")) for item in stored] == [
        ("user", "message"),
        ("assistant", "message"),
    ]
    assert stored[0]["content"] == "My name is Ada."
    assert stored[1]["content"][0]["text"] == "Hello Ada!"

    second = await Runner.run(agent, "Who am I?", session=chat_session("runner"))
    assert second.final_output == "You are Ada."
    assert model.last_call is not None
    sent = model.last_call.input
    assert isinstance(sent, list)
    assert sent[:2] == stored
    assert sent[2]["role"] == "user"
    assert sent[2]["content"] == "Who am I?"
    assert len(await session.get_items()) == 4
    model.assert_complete()

    conversation = await session.get_conversation()
    assert conversation is not None
    assert (conversation.item_count, conversation.title) == (4, "My name is Ada.")


async def test_runner_with_the_owners_context_uses_the_session():
    model = ScriptedModel([[assistant_message("ok")]])
    session = chat_session("owned", owner="user:1")
    result = await Runner.run(
        Agent(name="chat", model=model), "hi", session=session, context=Caller(owner="user:1")
    )
    assert result.final_output == "ok"
    assert len(await session.get_items()) == 2


async def test_runner_with_another_owners_context_cannot_touch_the_session():
    model = ScriptedModel([[assistant_message("should not run")]])
    session = chat_session("owned", owner="user:1")
    await session.add_items([user("secret")])

    with pytest.raises(SessionOwnerMismatch):
        await Runner.run(
            Agent(name="chat", model=model), "hi", session=session, context=Caller(owner="user:2")
        )
    assert model.calls == ()
    assert await session.get_items() == [user("secret")]
