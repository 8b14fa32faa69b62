"""The Session contract: every case runs against the SDK's ``SQLiteSession`` and ``DjangoSession``.

``SQLiteSession`` is the reference. Whatever it gives back, ``DjangoSession`` must give back too,
item for item, so an agent cannot tell which store holds its history.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from agents import Agent
from agents.items import MessageOutputItem, ToolCallItem
from agents.memory import SQLiteSession
from agents.memory.session import Session
from agents.memory.session_settings import SessionSettings
from agents.testing import assistant_message, function_call

from agentsite.conversations.session import DjangoSession

MakeSession = Callable[..., Any]


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("django", marks=pytest.mark.django_db(transaction=True)),
    ]
)
def make_session(request, tmp_path) -> Iterator[MakeSession]:
    """``make_session(session_id, **kwargs)`` for one implementation; all share one store."""
    if request.param == "django":

        def make_django(session_id: str, **kwargs: Any) -> DjangoSession:
            return DjangoSession(session_id, agent="chat", owner="anonymous", **kwargs)

        yield make_django
        return

    # One file for every session of a test, so isolation between session ids is really tested.
    opened: list[SQLiteSession] = []

    def make_sqlite(session_id: str, **kwargs: Any) -> SQLiteSession:
        session = SQLiteSession(session_id, tmp_path / "sessions.db", **kwargs)
        opened.append(session)
        return session

    yield make_sqlite
    for session in opened:
        session.close()


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def numbered(count: int, prefix: str = "m") -> list[dict[str, Any]]:
    return [user(f"{prefix}{index}") for index in range(count)]


# --- add / get -------------------------------------------------------------------------------


def test_implements_the_sdk_session_protocol(make_session):
    session = make_session("protocol")
    assert isinstance(session, Session)
    assert session.session_id == "protocol"


async def test_new_session_is_empty(make_session):
    session = make_session("fresh")
    assert await session.get_items() == []
    assert await session.get_items(limit=3) == []


async def test_add_then_get_keeps_insertion_order_across_calls(make_session):
    session = make_session("order")
    batches = [numbered(3, "a"), [user("b0")], numbered(4, "c")]
    for batch in batches:
        await session.add_items(copy.deepcopy(batch))
    assert await session.get_items() == [item for batch in batches for item in batch]


async def test_key_order_of_items_is_preserved(make_session):
    session = make_session("keys")
    item = {"z": 1, "content": "x", "role": "user", "a": {"y": 1, "b": 2}}
    await session.add_items([item])
    (stored,) = await session.get_items()
    assert list(stored) == ["z", "content", "role", "a"]
    assert list(stored["a"]) == ["y", "b"]


async def test_items_are_stored_as_json_values_not_references(make_session):
    session = make_session("copies")
    item = {"role": "user", "content": [{"type": "input_text", "text": "before"}]}
    await session.add_items([item])
    item["content"][0]["text"] = "mutated after add"
    first = await session.get_items()
    first[0]["content"] = "mutated after get"
    assert await session.get_items() == [
        {"role": "user", "content": [{"type": "input_text", "text": "before"}]}
    ]


async def test_items_come_back_as_json_gives_them_back(make_session):
    """Tuples become lists and non-string keys become strings, exactly as ``json`` does."""
    session = make_session("json")
    item = {"type": "custom", "pair": (1, 2), "by_id": {1: "one", 2.5: "two"}}
    await session.add_items([item])
    assert await session.get_items() == [json.loads(json.dumps(item))]


async def test_add_empty_list_is_a_no_op(make_session):
    session = make_session("empty-add")
    await session.add_items([])
    assert await session.get_items() == []
    await session.add_items([user("one")])
    await session.add_items([])
    assert await session.get_items() == [user("one")]
    assert await session.pop_item() == user("one")
    assert await session.pop_item() is None


# --- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (1, ["m4"]),
        (3, ["m2", "m3", "m4"]),
        (5, ["m0", "m1", "m2", "m3", "m4"]),
        (50, ["m0", "m1", "m2", "m3", "m4"]),
        (0, []),
        (None, ["m0", "m1", "m2", "m3", "m4"]),
        # SQLite's LIMIT treats a negative bound as "no limit"; SQLiteSession inherits that.
        (-1, ["m0", "m1", "m2", "m3", "m4"]),
    ],
)
async def test_limit_returns_the_latest_items_in_chronological_order(make_session, limit, expected):
    session = make_session("limits")
    await session.add_items(numbered(2))
    await session.add_items(numbered(5)[2:])
    items = await session.get_items(limit=limit)
    assert [item["content"] for item in items] == expected


@pytest.mark.parametrize("session_settings", [SessionSettings(limit=2), {"limit": 2}])
async def test_session_settings_limit_applies_when_no_limit_is_given(
    make_session, session_settings
):
    session = make_session("settings", session_settings=session_settings)
    await session.add_items(numbered(5))
    assert session.session_settings == SessionSettings(limit=2)
    assert [item["content"] for item in await session.get_items()] == ["m3", "m4"]
    assert [item["content"] for item in await session.get_items(limit=None)] == ["m3", "m4"]


@pytest.mark.parametrize(
    ("limit", "expected"), [(4, ["m1", "m2", "m3", "m4"]), (1, ["m4"]), (0, [])]
)
async def test_explicit_limit_overrides_session_settings(make_session, limit, expected):
    session = make_session("override", session_settings=SessionSettings(limit=2))
    await session.add_items(numbered(5))
    assert [item["content"] for item in await session.get_items(limit=limit)] == expected


async def test_session_settings_limit_zero_returns_nothing(make_session):
    session = make_session("settings-zero", session_settings=SessionSettings(limit=0))
    await session.add_items(numbered(3))
    assert await session.get_items() == []
    assert len(await session.get_items(limit=10)) == 3


async def test_default_session_settings_have_no_limit(make_session):
    session = make_session("default-settings")
    assert session.session_settings == SessionSettings()
    await session.add_items(numbered(30))
    assert len(await session.get_items()) == 30


# --- pop -------------------------------------------------------------------------------------


async def test_pop_on_empty_session_returns_none(make_session):
    session = make_session("pop-empty")
    assert await session.pop_item() is None
    assert await session.pop_item() is None
    assert await session.get_items() == []


async def test_pop_returns_and_removes_the_most_recent_item(make_session):
    session = make_session("pop")
    await session.add_items(numbered(3))
    assert await session.pop_item() == user("m2")
    assert await session.get_items() == numbered(2)


async def test_repeated_pops_drain_in_reverse_order(make_session):
    session = make_session("drain")
    await session.add_items(numbered(2))
    await session.add_items(numbered(4)[2:])
    popped = [await session.pop_item() for _ in range(4)]
    assert popped == list(reversed(numbered(4)))
    assert await session.pop_item() is None
    assert await session.get_items() == []


async def test_add_after_pop_continues_in_order(make_session):
    session = make_session("pop-add")
    await session.add_items(numbered(3))
    await session.pop_item()
    await session.pop_item()
    await session.add_items([user("x"), user("y")])
    assert await session.get_items() == [user("m0"), user("x"), user("y")]
    assert await session.get_items(limit=2) == [user("x"), user("y")]
    assert await session.pop_item() == user("y")


async def test_add_after_draining_by_pop_starts_again(make_session):
    session = make_session("pop-all-add")
    await session.add_items(numbered(2))
    await session.pop_item()
    await session.pop_item()
    await session.add_items([user("again")])
    assert await session.get_items() == [user("again")]


# --- clear -----------------------------------------------------------------------------------


async def test_clear_empties_the_session(make_session):
    session = make_session("clear")
    await session.add_items(numbered(4))
    await session.clear_session()
    assert await session.get_items() == []
    assert await session.get_items(limit=2) == []
    assert await session.pop_item() is None


async def test_clear_on_a_session_that_never_existed_is_fine(make_session):
    session = make_session("never-written")
    await session.clear_session()
    await session.clear_session()
    assert await session.get_items() == []


async def test_session_is_usable_after_clear(make_session):
    session = make_session("reuse")
    await session.add_items(numbered(3))
    await session.clear_session()
    await session.add_items([user("new"), user("newer")])
    assert await session.get_items() == [user("new"), user("newer")]
    assert await session.pop_item() == user("newer")
    assert await session.get_items() == [user("new")]


async def test_a_second_instance_sees_the_same_history(make_session):
    writer = make_session("shared")
    await writer.add_items(numbered(3))
    reader = make_session("shared")
    assert await reader.get_items() == numbered(3)
    assert await reader.pop_item() == user("m2")
    await reader.clear_session()
    assert await writer.get_items() == []


# --- content ---------------------------------------------------------------------------------

AWKWARD_TEXTS = [
    "emoji 👩‍👩‍👧‍👦 🎉 🏳️‍🌈 𝕳𝖊𝖑𝖑𝖔",
    "RTL שלום עולם — مرحبا بالعالم \u200f\u202e",
    "CJK 你好，世界 こんにちは 안녕하세요",
    "NUL a\u0000b\u0000",
    "combining e\u0301 a\u0308 n\u0303 Z\u0351\u0352\u0353",
    "controls \t\n\r\x1b\x7f\x08\x0c \u2028\u2029 \ufeff\u200b",
    "quotes \" ' \\ \\u0000 </script> ${x} %s {0}",
    "",
]


async def test_unicode_round_trips_exactly(make_session):
    session = make_session("unicode-ü-世界-🎉")
    # The first user message is the awkward one: stores that derive a title must cope too.
    items: list[dict[str, Any]] = [user(text) for text in AWKWARD_TEXTS]
    items.append(
        {
            "role": "assistant",
            "content": [{"type": "output_text", "text": t} for t in AWKWARD_TEXTS],
        }
    )
    items.append({"type": "custom", "keys": {text: text for text in AWKWARD_TEXTS}})
    await session.add_items(items)
    assert await session.get_items() == items
    assert await session.get_items(limit=2) == items[-2:]
    assert await session.pop_item() == items[-1]


async def test_unicode_session_ids_are_distinct(make_session):
    names = ["é", "e\u0301", "世界", "🎉", "a b", "A"]
    for name in names:
        await make_session(name).add_items([user(name)])
    for name in names:
        assert await make_session(name).get_items() == [user(name)]


async def test_lone_surrogates_round_trip(make_session):
    """``json.loads`` accepts ``"\\ud83d"``; a client can send it, the store must keep it."""
    session = make_session("surrogates")
    items = [user("half an emoji \ud83d"), {"type": "custom", "text": "\udfff\ud800x"}]
    await session.add_items(items)
    assert await session.get_items() == items


async def test_large_item_round_trips(make_session):
    session = make_session("large")
    megabyte = "x" * 1_000_000 + "é🎉"
    big = {"role": "user", "content": [{"type": "input_text", "text": megabyte}]}
    await session.add_items([user("before"), big])
    await session.add_items([user("after")])
    assert await session.get_items() == [user("before"), big, user("after")]
    assert await session.get_items(limit=2) == [big, user("after")]


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": True}
    for level in range(depth):
        node = {"level": level, "child": node, "siblings": [level, [level, {"x": None}]]}
    return node


async def test_scalar_types_and_nesting_round_trip(make_session):
    session = make_session("scalars")
    item = {
        "type": "custom",
        "ints": [0, -1, 2**31, -(2**63), 2**70],
        "floats": [0.0, -0.0, 1.5, 1e-300, 1.7976931348623157e308, 0.1 + 0.2, float("inf")],
        "bools": [True, False],
        "none": None,
        "empty": {"list": [], "dict": {}, "string": ""},
        "deep": nested(60),
        "wide": {f"k{index}": index for index in range(2000)},
    }
    await session.add_items([item])
    (stored,) = await session.get_items()
    assert stored == item
    assert [type(value) for value in stored["ints"] + stored["floats"] + stored["bools"]] == [
        type(value) for value in item["ints"] + item["floats"] + item["bools"]
    ]
    assert str(stored["floats"][1]) == "-0.0"


async def test_items_of_any_shape_are_kept(make_session):
    """The store is schema-less: odd shapes, even for role "user", come back untouched."""
    session = make_session("odd-shapes")
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": None}, "bare string", 7]},
        {"role": "user", "content": {"text": "a dict"}},
        {"role": "user", "content": 42},
        {"role": "user"},
        {"type": 5, "role": ["not", "a", "string"]},
        {},
    ]
    await session.add_items(items)
    assert await session.get_items() == items


# --- isolation -------------------------------------------------------------------------------


async def test_many_sessions_are_isolated(make_session):
    sessions = [make_session(f"iso-{index}") for index in range(20)]
    for index, session in enumerate(sessions):
        await session.add_items(numbered(index % 4 + 1, prefix=f"s{index}-"))

    await sessions[3].clear_session()
    assert await sessions[7].pop_item() == user("s7-3")
    assert await sessions[0].pop_item() == user("s0-0")
    await sessions[11].add_items([user("extra")])

    for index, session in enumerate(sessions):
        expected = numbered(index % 4 + 1, prefix=f"s{index}-")
        if index == 3:
            expected = []
        elif index in (7, 0):
            expected = expected[:-1]
        elif index == 11:
            expected = [*expected, user("extra")]
        assert await session.get_items() == expected, f"session {index}"
        assert await session.get_items(limit=1) == expected[-1:], f"session {index}"


async def test_pop_on_empty_session_does_not_touch_others(make_session):
    busy, empty = make_session("busy"), make_session("empty")
    await busy.add_items(numbered(2))
    assert await empty.pop_item() is None
    await empty.clear_session()
    assert await busy.get_items() == numbered(2)


# --- realistic SDK items ---------------------------------------------------------------------


AGENT = Agent(name="chat")


def sdk_items() -> list[dict[str, Any]]:
    """One conversation turn with a tool call, shaped as the SDK stores it."""
    assistant = MessageOutputItem(
        agent=AGENT, raw_item=assistant_message("It is 21.5 °C in Paris.", item_id="msg_2")
    )
    call = ToolCallItem(
        agent=AGENT,
        raw_item=function_call("get_weather", {"city": "Paris"}, call_id="call_1", item_id="fc_1"),
    )
    return [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {
            "role": "user",
            "type": "message",
            "content": [
                {"type": "input_text", "text": "And this picture?"},
                {
                    "type": "input_image",
                    "image_url": "data:image/png;base64,iVBORw0K",
                    "detail": "auto",
                },
            ],
        },
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "Need the weather tool."}],
            "encrypted_content": "gAAAAABo" + "A" * 200,
        },
        call.to_input_item(),
        {
            "type": "function_call_output",
            "call_id": "call_1",
            "output": json.dumps({"temperature": 21.5, "unit": "°C"}),
        },
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [
                {
                    "type": "output_text",
                    "text": "See [Météo](https://example.com/météo).",
                    "annotations": [
                        {
                            "type": "url_citation",
                            "start_index": 4,
                            "end_index": 9,
                            "url": "https://example.com/météo",
                            "title": "Météo",
                        }
                    ],
                    "logprobs": [],
                },
                {"type": "refusal", "refusal": "I won't guess tomorrow's."},
            ],
        },
        assistant.to_input_item(),
    ]


async def test_realistic_sdk_items_round_trip(make_session):
    session = make_session("sdk-items")
    items = sdk_items()
    await session.add_items(items[:2])
    await session.add_items(items[2:])
    stored = await session.get_items()
    assert stored == items
    assert [item.get("type", "message") for item in stored] == [
        "message",
        "message",
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "message",
        "message",
    ]
    assert await session.pop_item() == items[-1]
    assert await session.get_items(limit=3) == items[-4:-1]


async def test_control_characters_in_role_and_type_are_kept(make_session):
    """Stores that copy role/type into their own columns must not choke on what JSON allows."""
    session = make_session("odd-roles")
    items = [
        {"role": "us\u0000er", "type": "mes\u0000sage", "content": "NUL in role and type"},
        {"role": "\ud800", "type": "\udfff", "content": "lone surrogates in role and type"},
        {"role": "r" * 500, "type": "t" * 500, "content": "very long role and type"},
    ]
    await session.add_items(items)
    assert await session.get_items() == items
