"""The SDK's ``EncryptedSession`` tests (openai-agents-python
``tests/extensions/memory/test_encrypt_session.py``) over ``SQLiteSession`` (the control) and
``DjangoSession``, each wrapped by the SDK's ``EncryptedSession`` and by
``agentsite.conversations.encrypted.EncryptedDjangoSession``; then what a pop with the wrong key
does.

Not ported: ``test_encrypted_session_forwards_wrapper_to_all_underlying_operations`` (its
store is a hand-written fake, no backend involved; ported as behaviour below, through the real
stores) and ``test_session_settings_resolve`` (``SessionSettings`` alone, no store). The SDK's
delegation test subclasses ``SQLiteSession``; here it reaches attributes the store has beyond
the protocol instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest
from agents import Agent, RunConfig, RunContextWrapper, Runner, SessionSettings
from agents.extensions.memory import EncryptedSession
from agents.items import TResponseInputItem
from agents.testing import ScriptedModel, assistant_message
from cryptography.fernet import Fernet, InvalidToken

from agentsite.conversations.encrypted import EncryptedDjangoSession
from agentsite.conversations.session import DjangoSession
from tests.agentsite.conversations.session_stores import Store

pytest_plugins = ["tests.agentsite.conversations.session_store_fixture"]

Wrap = Callable[..., EncryptedSession]


def _invalid_encrypted_envelope() -> TResponseInputItem:
    return cast(
        TResponseInputItem,
        {"__enc__": 1, "v": 1, "kid": "hkdf-v1", "payload": "not-a-valid-token"},
    )


@pytest.fixture(params=[EncryptedSession, EncryptedDjangoSession], ids=["sdk", "agentsite"])
def wrapper_class(request) -> type[EncryptedSession]:
    return request.param


@pytest.fixture
def encrypted(wrapper_class) -> Wrap:
    """``encrypted(underlying, key, **kwargs)``: the wrapper under test around a store."""

    def wrap(underlying: Any, encryption_key: str, **kwargs: Any) -> EncryptedSession:
        return wrapper_class(
            session_id="test_session",
            underlying_session=underlying,
            encryption_key=encryption_key,
            **kwargs,
        )

    return wrap


@pytest.fixture
def encryption_key() -> str:
    return Fernet.generate_key().decode("utf-8")


@pytest.fixture
def set_fernet_time(monkeypatch):
    """Freeze Fernet's clock so expiry needs no waiting (the SDK's own fixture)."""
    current_time = 1_000

    def set_time(value: int) -> None:
        nonlocal current_time
        current_time = value

    monkeypatch.setattr("cryptography.fernet.time.time", lambda: current_time)
    return set_time


def contents(items: list[Any]) -> list[Any]:
    return [item.get("content") for item in items]


async def test_encrypted_session_basic_functionality(store: Store, encrypted: Wrap, encryption_key):
    underlying = store.session("test_session")
    session = encrypted(underlying, encryption_key, ttl=600)
    await session.add_items(
        [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there!"}]
    )

    assert contents(await session.get_items()) == ["Hello", "Hi there!"]
    stored = await underlying.get_items()
    assert stored[0].get("__enc__") == 1
    assert "payload" in stored[0]
    assert stored[0].get("content") != "Hello"


async def test_encrypted_session_with_runner(store: Store, encrypted: Wrap, encryption_key):
    session = encrypted(store.session("test_session"), encryption_key)
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


async def test_encrypted_session_pop_item(store: Store, encrypted: Wrap, encryption_key):
    session = encrypted(store.session("test_session"), encryption_key)
    await session.add_items(
        [{"role": "user", "content": "First"}, {"role": "assistant", "content": "Second"}]
    )
    popped = await session.pop_item()
    assert popped is not None
    assert popped.get("content") == "Second"
    assert contents(await session.get_items()) == ["First"]


async def test_encrypted_session_clear(store: Store, encrypted: Wrap, encryption_key):
    session = encrypted(store.session("test_session"), encryption_key)
    await session.add_items([{"role": "user", "content": "Test"}])
    await session.clear_session()
    assert await session.get_items() == []


async def test_encrypted_session_ttl_expiration(
    store: Store, encrypted: Wrap, encryption_key, set_fernet_time
):
    set_fernet_time(1_000)
    underlying = store.session("test_session")
    session = encrypted(underlying, encryption_key, ttl=1)
    await session.add_items(
        [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi"}]
    )
    set_fernet_time(1_002)

    assert await session.get_items() == []
    assert len(await underlying.get_items()) == 2


async def test_encrypted_session_pop_expired(
    store: Store, encrypted: Wrap, encryption_key, set_fernet_time
):
    set_fernet_time(1_000)
    session = encrypted(store.session("test_session"), encryption_key, ttl=1)
    await session.add_items([{"role": "user", "content": "Test"}])
    set_fernet_time(1_002)
    assert await session.pop_item() is None


async def test_encrypted_session_pop_mixed_expired_valid(
    store: Store, encrypted: Wrap, encryption_key, set_fernet_time
):
    set_fernet_time(1_000)
    session = encrypted(store.session("test_session"), encryption_key, ttl=2)
    await session.add_items(
        [
            {"role": "user", "content": "Old message 1"},
            {"role": "assistant", "content": "Old response 1"},
        ]
    )
    set_fernet_time(1_003)
    await session.add_items(
        [
            {"role": "user", "content": "New message"},
            {"role": "assistant", "content": "New response"},
        ]
    )

    assert (await session.pop_item() or {}).get("content") == "New response"
    assert (await session.pop_item() or {}).get("content") == "New message"
    assert await session.pop_item() is None


async def test_encrypted_session_raw_string_key(store: Store, encrypted: Wrap):
    session = encrypted(store.session("test_session"), "my-secret-password")
    await session.add_items([{"role": "user", "content": "Test"}])
    assert contents(await session.get_items()) == ["Test"]


async def test_encrypted_session_get_items_limit(store: Store, encrypted: Wrap, encryption_key):
    session = encrypted(store.session("test_session"), encryption_key)
    await session.add_items([{"role": "user", "content": f"Message {i}"} for i in range(5)])
    assert contents(await session.get_items(limit=2)) == ["Message 3", "Message 4"]


async def test_encrypted_session_get_items_limit_skips_invalid_latest_envelope(
    store: Store, encrypted: Wrap, encryption_key
):
    underlying = store.session("test_session")
    session = encrypted(underlying, encryption_key)
    await session.add_items([{"role": "user", "content": "older valid"}])
    await underlying.add_items([_invalid_encrypted_envelope()])

    assert contents(await session.get_items()) == ["older valid"]
    assert contents(await session.get_items(limit=1)) == ["older valid"]


async def test_encrypted_session_get_items_limit_returns_latest_valid_items_after_invalids(
    store: Store, encrypted: Wrap, encryption_key
):
    underlying = store.session("test_session")
    session = encrypted(underlying, encryption_key)
    await session.add_items(
        [{"role": "user", "content": "valid 0"}, {"role": "assistant", "content": "valid 1"}]
    )
    await underlying.add_items([_invalid_encrypted_envelope()])
    await session.add_items([{"role": "user", "content": "valid 2"}])

    assert contents(await session.get_items(limit=2)) == ["valid 1", "valid 2"]


async def test_encrypted_session_get_items_session_settings_limit_skips_invalid_envelopes(
    store: Store, encrypted: Wrap, encryption_key
):
    underlying = store.session("test_session")
    underlying.session_settings = SessionSettings(limit=3)
    session = encrypted(underlying, encryption_key)
    await session.add_items(
        [
            {"role": "user", "content": "valid 0"},
            {"role": "assistant", "content": "valid 1"},
            {"role": "user", "content": "valid 2"},
        ]
    )
    await underlying.add_items([_invalid_encrypted_envelope()])

    assert contents(await session.get_items()) == ["valid 0", "valid 1", "valid 2"]


async def test_encrypted_session_unicode_content(store: Store, encrypted: Wrap, encryption_key):
    session = encrypted(store.session("test_session"), encryption_key)
    texts = ["Hello world", "Special chars: áéíóú", "Numbers and symbols: 123!@#"]
    await session.add_items([{"role": "user", "content": text} for text in texts])
    assert contents(await session.get_items()) == texts


async def test_encrypted_session_delegation(store: Store, encrypted: Wrap, encryption_key):
    underlying = store.session("test_session")
    session = encrypted(underlying, encryption_key)
    await session.add_items([{"role": "user", "content": "Test delegation"}])
    assert contents(await session.get_items()) == ["Test delegation"]
    # Attributes beyond the protocol reach the store underneath.
    assert session.session_id == underlying.session_id
    if isinstance(underlying, DjangoSession):
        conversation = await session.get_conversation()
        assert conversation is not None
        assert conversation.item_count == 1
    else:
        assert session.messages_table == "agent_messages"


async def test_session_settings_delegated_to_underlying(
    store: Store, encrypted: Wrap, encryption_key
):
    underlying = store.session("test_session", session_settings=SessionSettings(limit=5))
    session = encrypted(underlying, encryption_key)
    assert session.session_settings is not None
    assert session.session_settings.limit == 5


async def test_session_settings_get_items_uses_underlying_limit(
    store: Store, encrypted: Wrap, encryption_key
):
    underlying = store.session("test_session", session_settings=SessionSettings(limit=3))
    session = encrypted(underlying, encryption_key)
    await session.add_items([{"role": "user", "content": f"Message {i}"} for i in range(5)])
    assert contents(await session.get_items()) == ["Message 2", "Message 3", "Message 4"]


async def test_session_settings_explicit_limit_overrides_settings(
    store: Store, encrypted: Wrap, encryption_key
):
    underlying = store.session("test_session", session_settings=SessionSettings(limit=5))
    session = encrypted(underlying, encryption_key)
    await session.add_items([{"role": "user", "content": f"Message {i}"} for i in range(10)])
    assert contents(await session.get_items(limit=2)) == ["Message 8", "Message 9"]


async def test_runner_with_session_settings_override(store: Store, encrypted: Wrap, encryption_key):
    underlying = store.session("test_session", session_settings=SessionSettings(limit=100))
    session = encrypted(underlying, encryption_key)
    await session.add_items([{"role": "user", "content": f"Turn {i}"} for i in range(10)])
    model = ScriptedModel()
    model.enqueue([assistant_message("Got it")])

    await Runner.run(
        Agent(name="test", model=model),
        "New question",
        session=session,
        run_config=RunConfig(session_settings=SessionSettings(limit=2)),
    )

    history = [item for item in model.calls[-1].input if item.get("content") != "New question"]
    assert contents(history) == ["Turn 8", "Turn 9"]


async def test_encrypted_session_passes_the_run_context_to_the_store(
    store: Store, encrypted: Wrap, encryption_key
):
    """The store sees the run's context through the wrapper (DjangoSession checks its owner)."""
    underlying = store.session("test_session")
    session = encrypted(underlying, encryption_key)
    context = RunContextWrapper(context=None)
    await session.add_items([{"role": "user", "content": "a"}], wrapper=context)
    assert contents(await session.get_items(wrapper=context)) == ["a"]
    assert (await session.pop_item(wrapper=context) or {}).get("content") == "a"
    await session.clear_session(wrapper=context)


# --- a pop with the wrong key ----------------------------------------------------------------

HISTORY = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there!"}]


def safe_wrapper_for(store: Store) -> type[EncryptedSession]:
    """What to wrap each store in: the SDK's own wrapper has the safe pop for SQLiteSession;
    DjangoSession gets it from agentsite's."""
    return EncryptedDjangoSession if store.name == "django" else EncryptedSession


async def test_a_pop_with_the_wrong_key_destroys_nothing(store: Store):
    underlying = store.session("test_session")
    wrapper_class = safe_wrapper_for(store)
    right_key, wrong_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    right = wrapper_class("test_session", underlying_session=underlying, encryption_key=right_key)
    wrong = wrapper_class("test_session", underlying_session=underlying, encryption_key=wrong_key)
    await right.add_items(HISTORY)
    stored = await underlying.get_items()

    assert await wrong.get_items() == []
    with pytest.raises(InvalidToken):
        await wrong.pop_item()
    with pytest.raises(InvalidToken):
        await wrong.pop_item()

    assert await underlying.get_items() == stored
    assert await right.get_items() == HISTORY
    assert await right.pop_item() == HISTORY[-1]
    assert await right.get_items() == HISTORY[:-1]


async def test_agentsite_wrapper_pops_the_items_its_key_reads_over_others(store: Store):
    """Items of another key are never removed by a pop, even under readable ones; plaintext
    items (not envelopes) are dropped on the way, as the SDK does."""
    underlying = store.session("test_session")
    wrapper_class = safe_wrapper_for(store)
    mine = wrapper_class(
        "test_session", underlying_session=underlying, encryption_key=Fernet.generate_key().decode()
    )
    theirs = wrapper_class(
        "test_session", underlying_session=underlying, encryption_key=Fernet.generate_key().decode()
    )
    await theirs.add_items([{"role": "user", "content": "theirs"}])
    await mine.add_items([{"role": "user", "content": "mine"}])
    await underlying.add_items([{"role": "user", "content": "plaintext"}])

    assert contents([await mine.pop_item()]) == ["mine"]
    with pytest.raises(InvalidToken):
        await mine.pop_item()
    assert contents(await theirs.get_items()) == ["theirs"]


@pytest.mark.django_db(transaction=True)
async def test_the_sdk_wrapper_over_django_session_pops_what_it_cannot_read():
    """Pinned SDK behaviour, the reason for ``EncryptedDjangoSession`` (README, "Session
    semantics"): the SDK's ``EncryptedSession`` authenticates before deleting only over
    ``SQLiteSession``; over any other store a wrong-key pop removes every item it cannot read
    and returns None. If this starts failing, the SDK has made its safe path generic."""
    underlying = DjangoSession("test_session", agent="chat")
    right_key, wrong_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    right = EncryptedSession(
        "test_session", underlying_session=underlying, encryption_key=right_key
    )
    wrong = EncryptedSession(
        "test_session", underlying_session=underlying, encryption_key=wrong_key
    )
    await right.add_items(HISTORY)

    assert await wrong.pop_item() is None

    assert await underlying.get_items() == []
    assert await right.get_items() == []
