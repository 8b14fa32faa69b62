"""The SDK's own session tests (openai-agents-python ``tests/memory/test_session.py``), run
against ``SQLiteSession`` (the control) and ``DjangoSession``.

Each test keeps the SDK test's name, with ``sqlite_session`` dropped where it named the
store. Not ported: the tests of ``SQLiteSession``'s own machinery (its per-thread sqlite3
connections and their ``close()``, the process-wide file lock, rollback and eviction of a
cached connection, the private ``_await_mutation`` helper) — ``DjangoSession`` uses Django's
connections instead. What those tests protect is ported as behaviour: a write that fails
leaves nothing behind and the session usable; a cancelled write is waited for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, cast

import pytest
from agents import Agent, RunConfig, Runner, SessionSettings, TResponseInputItem
from agents.testing import ScriptedModel, assistant_message

from tests.agentsite.conversations.sdk_runner import RUNNER_METHODS, run_agent
from tests.agentsite.conversations.session_stores import WAIT_SECONDS, Store

pytest_plugins = ["tests.agentsite.conversations.session_store_fixture"]


# --- through the Runner ----------------------------------------------------------------------


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_memory_basic_functionality_parametrized(store: Store, runner_method):
    session = store.session("test_session_123")
    model = ScriptedModel()
    agent = Agent(name="test", model=model)

    model.enqueue([assistant_message("San Francisco")])
    result1 = await run_agent(
        runner_method, agent, "What city is the Golden Gate Bridge in?", session=session
    )
    assert result1.final_output == "San Francisco"

    model.enqueue([assistant_message("California")])
    result2 = await run_agent(runner_method, agent, "What state is it in?", session=session)
    assert result2.final_output == "California"

    assert len(model.calls[-1].input) > 1


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_memory_with_explicit_instance_parametrized(store: Store, runner_method):
    session = store.session("test_session_456")
    model = ScriptedModel()
    agent = Agent(name="test", model=model)

    model.enqueue([assistant_message("Hello")])
    result1 = await run_agent(runner_method, agent, "Hi there", session=session)
    assert result1.final_output == "Hello"

    model.enqueue([assistant_message("I remember you said hi")])
    result2 = await run_agent(runner_method, agent, "Do you remember what I said?", session=session)
    assert result2.final_output == "I remember you said hi"


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_memory_disabled_parametrized(runner_method):
    """No store involved: without a session the second turn has no history."""
    model = ScriptedModel()
    agent = Agent(name="test", model=model)

    model.enqueue([assistant_message("Hello")])
    assert (await run_agent(runner_method, agent, "Hi there")).final_output == "Hello"

    model.enqueue([assistant_message("I don't remember")])
    result2 = await run_agent(runner_method, agent, "Do you remember what I said?")
    assert result2.final_output == "I don't remember"
    assert len(model.calls[-1].input) == 1


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_memory_different_sessions_parametrized(store: Store, runner_method):
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    session_1 = store.session("session_1")
    session_2 = store.session("session_2")

    model.enqueue([assistant_message("I like cats")])
    result1 = await run_agent(runner_method, agent, "I like cats", session=session_1)
    assert result1.final_output == "I like cats"

    model.enqueue([assistant_message("I like dogs")])
    result2 = await run_agent(runner_method, agent, "I like dogs", session=session_2)
    assert result2.final_output == "I like dogs"

    model.enqueue([assistant_message("Yes, you mentioned cats")])
    result3 = await run_agent(runner_method, agent, "What did I say I like?", session=session_1)
    assert result3.final_output == "Yes, you mentioned cats"
    # (The SDK test stops here; what the model saw is the point.)
    sent = [str(item.get("content")) for item in model.calls[-1].input]
    assert any("cats" in text for text in sent)
    assert not any("dogs" in text for text in sent)


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_memory_appends_list_input_by_default(store: Store, runner_method):
    session = store.session("test_validation_parametrized")
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    initial_history: list[TResponseInputItem] = [
        {"role": "user", "content": "Earlier message"},
        {"role": "assistant", "content": "Saved reply"},
    ]
    await session.add_items(initial_history)
    list_input = [{"role": "user", "content": "Test message"}]

    model.enqueue([assistant_message("This should run")])
    await run_agent(runner_method, agent, list_input, session=session)

    assert model.calls[-1].input == initial_history + list_input


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_callback_prepared_input(store: Store, runner_method):
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    session = store.session("session_1")
    initial_history: list[TResponseInputItem] = [
        {"role": "user", "content": "Hello there."},
        {"role": "assistant", "content": "Hi, I'm here to assist you."},
    ]
    await session.add_items(initial_history)

    def filter_assistant_messages(history, new_input):
        return [item for item in history if item["role"] == "user"] + new_input

    new_turn_input = [{"role": "user", "content": "What your name?"}]
    model.enqueue([assistant_message("I'm gpt-4o")])
    await run_agent(
        runner_method,
        agent,
        new_turn_input,
        session=session,
        run_config=RunConfig(session_input_callback=filter_assistant_messages),
    )

    assert model.calls[-1].input == [initial_history[0], new_turn_input[0]]


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
async def test_session_callback_repeating_history_does_not_grow_session(
    store: Store, runner_method
):
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    session = store.session("session_repeat")

    def repeat_first(history, new_input):
        if not history:
            return new_input
        return [*history, history[0], *new_input]

    for turn in range(3):
        model.enqueue([assistant_message(f"assistant {turn}")])
        await run_agent(
            runner_method,
            agent,
            f"user {turn}",
            session=session,
            run_config=RunConfig(session_input_callback=repeat_first),
        )

    stored = await session.get_items()
    user_messages = [item for item in stored if item.get("role") == "user"]
    assert [item.get("content") for item in user_messages] == ["user 0", "user 1", "user 2"]
    assert len(stored) == 6


async def test_session_add_items_exception_propagates_in_streamed(store: Store):
    """Regression test of openai-agents-python#2130: the stream ends with the store's error."""
    session = store.session("test_exception_session")

    async def failing_add_items(_items, **_kwargs):
        raise RuntimeError("Simulated session.add_items failure")

    session.add_items = failing_add_items
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    model.enqueue([assistant_message("This should not be reached")])
    result = Runner.run_streamed(agent, "Hello", session=session)

    async def consume_stream():
        async for _event in result.stream_events():
            pass

    with pytest.raises(RuntimeError, match=r"Simulated session\.add_items failure"):
        await asyncio.wait_for(consume_stream(), timeout=WAIT_SECONDS)


async def test_runner_with_session_settings_override(store: Store):
    session = store.session("runner_override_test", session_settings=SessionSettings(limit=100))
    await session.add_items([{"role": "user", "content": f"Turn {i}"} for i in range(10)])
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    model.enqueue([assistant_message("Got it")])

    await Runner.run(
        agent,
        "New question",
        session=session,
        run_config=RunConfig(session_settings=SessionSettings(limit=2)),
    )

    history = [item for item in model.calls[-1].input if item.get("content") != "New question"]
    assert [item.get("content") for item in history] == ["Turn 8", "Turn 9"]


# --- the store directly ----------------------------------------------------------------------


async def test_session_memory_direct(store: Store):
    session = store.session("direct_test")
    items: list[TResponseInputItem] = [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi there!"},
    ]
    await session.add_items(items)
    retrieved = await session.get_items()
    assert [(item.get("role"), item.get("content")) for item in retrieved] == [
        ("user", "Hello"),
        ("assistant", "Hi there!"),
    ]

    await session.clear_session()
    assert await session.get_items() == []


async def test_session_memory_pop_item(store: Store):
    session = store.session("pop_test")
    assert await session.pop_item() is None

    items: list[TResponseInputItem] = [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi there!"},
        {"role": "user", "content": "How are you?"},
    ]
    await session.add_items(items)
    assert len(await session.get_items()) == 3

    popped = await session.pop_item()
    assert popped is not None
    assert (popped.get("role"), popped.get("content")) == ("user", "How are you?")
    remaining = await session.get_items()
    assert len(remaining) == 2
    assert remaining[-1].get("content") == "Hi there!"

    popped2 = await session.pop_item()
    assert popped2 is not None
    assert (popped2.get("role"), popped2.get("content")) == ("assistant", "Hi there!")
    popped3 = await session.pop_item()
    assert popped3 is not None
    assert (popped3.get("role"), popped3.get("content")) == ("user", "Hello")

    assert await session.pop_item() is None
    assert await session.get_items() == []


async def test_session_memory_pop_different_sessions(store: Store):
    session_1 = store.session("session_1")
    session_2 = store.session("session_2")
    await session_1.add_items([{"role": "user", "content": "Session 1 message"}])
    await session_2.add_items(
        [
            {"role": "user", "content": "Session 2 message 1"},
            {"role": "user", "content": "Session 2 message 2"},
        ]
    )

    popped = await session_2.pop_item()
    assert popped is not None
    assert popped.get("content") == "Session 2 message 2"
    assert [item.get("content") for item in await session_1.get_items()] == ["Session 1 message"]
    assert [item.get("content") for item in await session_2.get_items()] == ["Session 2 message 1"]


async def test_session_pop_item_skips_corrupt_most_recent(store: Store):
    session = store.session("pop_corrupt")
    valid_item: TResponseInputItem = {"role": "user", "content": "valid"}
    await session.add_items([valid_item])
    await store.insert_corrupt_row(session)

    assert await session.pop_item() == valid_item
    assert await session.get_items() == []


async def test_session_pop_item_returns_none_after_dropping_only_corrupt_rows(store: Store):
    session = store.session("pop_only_corrupt")
    await store.insert_corrupt_row(session)

    assert await session.pop_item() is None
    assert await session.get_items() == []


async def test_session_get_items_with_limit(store: Store):
    session = store.session("count_test")
    contents = ["Message 1", "Response 1", "Message 2", "Response 2", "Message 3", "Response 3"]
    await session.add_items(
        [
            {"role": "user" if index % 2 == 0 else "assistant", "content": content}
            for index, content in enumerate(contents)
        ]
    )

    def texts(items):
        return [item.get("content") for item in items]

    assert texts(await session.get_items()) == contents
    assert texts(await session.get_items(limit=2)) == contents[-2:]
    assert texts(await session.get_items(limit=4)) == contents[-4:]
    assert texts(await session.get_items(limit=10)) == contents
    assert await session.get_items(limit=0) == []


async def test_session_get_items_limit_skips_corrupt_newest_rows(store: Store):
    session = store.session("limit_corrupt")
    await session.add_items(
        [
            {"role": "user", "content": "valid 0"},
            {"role": "assistant", "content": "valid 1"},
            {"role": "user", "content": "valid 2"},
        ]
    )
    await store.insert_corrupt_row(session)

    limited = await session.get_items(limit=2)
    assert [item.get("content") for item in limited] == ["valid 1", "valid 2"]


async def test_session_get_items_session_settings_limit_skips_corrupt_rows(store: Store):
    session = store.session("settings_limit_corrupt", session_settings=SessionSettings(limit=2))
    await session.add_items(
        [
            {"role": "user", "content": "valid 0"},
            {"role": "assistant", "content": "valid 1"},
            {"role": "user", "content": "valid 2"},
        ]
    )
    await store.insert_corrupt_row(session)

    limited = await session.get_items()
    assert [item.get("content") for item in limited] == ["valid 1", "valid 2"]


async def test_session_unicode_content(store: Store):
    session = store.session("unicode_test")
    await session.add_items(
        [
            {"role": "user", "content": "こんにちは"},
            {"role": "assistant", "content": "😊👍"},
            {"role": "user", "content": "Привет"},
        ]
    )
    retrieved = await session.get_items()
    assert [item.get("content") for item in retrieved] == ["こんにちは", "😊👍", "Привет"]


async def test_session_special_characters_and_sql_injection(store: Store):
    session = store.session("special_chars_test")
    contents = [
        "O'Reilly",
        "DROP TABLE sessions;",
        '"SELECT * FROM users WHERE name = "admin";"',
        "Robert'); DROP TABLE students;--",
        "Normal message",
    ]
    await session.add_items([{"role": "user", "content": content} for content in contents])
    assert [item.get("content") for item in await session.get_items()] == contents


async def test_session_concurrent_access(store: Store):
    """Writes from five threads, each with its own event loop, all land."""
    session = store.session("concurrent_test")
    items: list[TResponseInputItem] = [
        {"role": "user", "content": f"Message {i}"} for i in range(10)
    ]

    def add_item(item):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(session.add_items([item]))
        finally:
            loop.close()

    def add_all() -> None:
        with concurrent.futures.ThreadPoolExecutor(max_workers=5) as executor:
            list(executor.map(add_item, items))

    await asyncio.to_thread(add_all)

    contents = {item.get("content") for item in await session.get_items()}
    assert contents == {f"Message {i}" for i in range(10)}


async def test_session_shared_database_keeps_sessions_apart_under_concurrent_writes(
    store: Store,
):
    """Port of test_sqlite_session_file_lock_is_shared_across_instances (its behaviour; the
    lock bookkeeping it also checks is SQLiteSession's own)."""
    session_1 = store.session("session_1")
    session_2 = store.session("session_2")
    await asyncio.gather(
        session_1.add_items([{"role": "user", "content": "session_1"}]),
        session_2.add_items([{"role": "user", "content": "session_2"}]),
    )
    assert [item.get("content") for item in await session_1.get_items()] == ["session_1"]
    assert [item.get("content") for item in await session_2.get_items()] == ["session_2"]


async def test_session_failed_add_items_leaves_nothing_and_stays_usable(store: Store):
    """Port of test_sqlite_session_failed_add_items_releases_write_lock: a batch that cannot be
    stored is stored not at all, and the next write works."""
    session = store.session("rollback_test")
    unserializable = cast(TResponseInputItem, {"role": "user", "content": object()})
    with pytest.raises(TypeError):
        await session.add_items([{"role": "user", "content": "first of the batch"}, unserializable])
    assert await session.get_items() == []

    await session.add_items([{"role": "user", "content": "after failure"}])
    assert [item.get("content") for item in await session.get_items()] == ["after failure"]


# --- session settings ------------------------------------------------------------------------


def test_session_settings_default(store: Store):
    session = store.session("default_settings_test")
    assert isinstance(session.session_settings, SessionSettings)
    assert session.session_settings.limit is None


def test_session_settings_constructor(store: Store):
    session = store.session("constructor_settings_test", session_settings=SessionSettings(limit=5))
    assert session.session_settings is not None
    assert session.session_settings.limit == 5


def test_session_settings_constructor_normalizes_dictionary(store: Store):
    session = store.session("dictionary_settings_test", session_settings={"limit": 0})
    assert isinstance(session.session_settings, SessionSettings)
    assert session.session_settings.limit == 0
    assert session.session_settings.resolve({"limit": 4}).limit == 4


def test_session_settings_rejects_unknown_dictionary_fields(store: Store):
    with pytest.raises(TypeError, match="Unknown session settings: limitt"):
        store.session("invalid_settings_test", session_settings={"limitt": 1})


async def test_get_items_uses_session_settings_limit(store: Store):
    session = store.session("uses_settings_limit_test", session_settings=SessionSettings(limit=3))
    await session.add_items([{"role": "user", "content": f"Message {i}"} for i in range(5)])
    retrieved = await session.get_items()
    assert [item.get("content") for item in retrieved] == ["Message 2", "Message 3", "Message 4"]


async def test_get_items_explicit_limit_overrides_session_settings(store: Store):
    session = store.session("explicit_override_test", session_settings=SessionSettings(limit=5))
    await session.add_items([{"role": "user", "content": f"Message {i}"} for i in range(10)])
    retrieved = await session.get_items(limit=2)
    assert [item.get("content") for item in retrieved] == ["Message 8", "Message 9"]


# --- cancellation ----------------------------------------------------------------------------


def start(session: Any, operation: str) -> asyncio.Task[Any]:
    item: TResponseInputItem = {"role": "user", "content": "once"}
    if operation == "add":
        return asyncio.create_task(session.add_items([item]))
    if operation == "pop":
        return asyncio.create_task(session.pop_item())
    return asyncio.create_task(session.clear_session())


@pytest.mark.parametrize("operation", ["add", "pop", "clear"])
async def test_session_post_commit_cancellation_propagates_after_known_outcome(
    store: Store, operation: str
):
    """A write under way when its caller is cancelled (twice) finishes first; the caller sees
    ``CancelledError`` only then, with the outcome already stored."""
    session = store.session(f"post_commit_{operation}")
    item: TResponseInputItem = {"role": "user", "content": "once"}
    if operation != "add":
        await session.add_items([item])

    async with store.pause_next_write(session) as pause:
        mutation = start(session, operation)
        try:
            assert await asyncio.to_thread(pause.reached.wait, WAIT_SECONDS)
            mutation.cancel()
            await asyncio.sleep(0)
            mutation.cancel()
            await asyncio.sleep(0)
            assert not mutation.done()
            pause.release.set()
            with pytest.raises(asyncio.CancelledError):
                await mutation
        finally:
            pause.release.set()
            if not mutation.done():
                mutation.cancel()
                await asyncio.gather(mutation, return_exceptions=True)

    assert mutation.cancelled()
    assert await session.get_items() == ([item] if operation == "add" else [])


@pytest.mark.parametrize("operation", ["add", "pop", "clear"])
async def test_session_cancellation_hides_a_later_write_failure_without_loop_error(
    store: Store, operation: str
):
    """Port of test_await_mutation_cancellation_hides_later_failure_without_loop_error, through
    the store: the write fails after its caller was cancelled; the caller gets
    ``CancelledError``, nothing is reported as a lost exception, the write left nothing."""
    session = store.session(f"late_failure_{operation}")
    kept: TResponseInputItem = {"role": "user", "content": "kept"}
    await session.add_items([kept])
    loop = asyncio.get_running_loop()
    previous_handler = loop.get_exception_handler()
    loop_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    try:
        async with store.pause_next_write(session, then_fail=True) as pause:
            mutation = start(session, operation)
            try:
                assert await asyncio.to_thread(pause.reached.wait, WAIT_SECONDS)
                mutation.cancel("caller-cancelled")
                pause.release.set()
                with pytest.raises(asyncio.CancelledError):
                    await mutation
            finally:
                pause.release.set()
                if not mutation.done():
                    mutation.cancel()
                    await asyncio.gather(mutation, return_exceptions=True)
        await asyncio.sleep(0)
        assert loop_errors == []
    finally:
        loop.set_exception_handler(previous_handler)
    assert await session.get_items() == [kept]
