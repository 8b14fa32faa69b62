"""Branches in the session store: fork at a user turn, switch, the model sees the active branch
only, counters and limits stay true, versions of a turn (◀ n/m ▶) worked out right."""

from __future__ import annotations

import uuid

import pytest
from agents import Agent, Runner
from agents.testing import ScriptedModel, assistant_message

from agentsite.conversations.branches import (
    BranchTree,
    fork_conversation,
    read_forks,
    switch_branch,
)
from agentsite.conversations.leases import claim_conversation, release_conversation
from agentsite.conversations.session import DjangoSession, utf8_size
from agentsite.errors import ConversationBusy, ConversationFull, NotFound
from agentsite.models import Conversation, ConversationBranch, ConversationItem

pytestmark = pytest.mark.django_db(transaction=True)

OWNER, AGENT = "anonymous", "chat"


def session(session_id: str = "b") -> DjangoSession:
    return DjangoSession(session_id, agent=AGENT, owner=OWNER)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def reply(text: str) -> dict:
    return {"role": "assistant", "content": text}


async def three_turns(session_id: str = "b") -> DjangoSession:
    store = session(session_id)
    for n in (1, 2, 3):
        await store.add_items([user(f"q{n}"), reply(f"a{n}")])
    return store


async def user_position(session_id: str, text: str) -> int:
    conversation = await Conversation.objects.aget(session_id=session_id)
    item = await ConversationItem.objects.aget(
        conversation=conversation,
        branch=conversation.active_branch,
        role="user",
        data__contains=f'"{text}"',
    )
    return item.position


async def counters_match(session_id: str) -> bool:
    conversation = await Conversation.objects.aget(session_id=session_id)
    rows = [
        data
        async for data in ConversationItem.objects.filter(conversation=conversation).values_list(
            "data", flat=True
        )
    ]
    return conversation.item_count == len(rows) and conversation.stored_bytes == sum(
        utf8_size(data) for data in rows
    )


async def test_fork_keeps_the_turns_before_and_appends_to_the_new_branch():
    store = await three_turns()
    state = await fork_conversation(OWNER, AGENT, "b", await user_position("b", "q2"))
    assert (state.branch, state.branch_count, state.input) == (2, 2, "q2")
    assert await store.get_items() == [user("q1"), reply("a1")]
    await store.add_items([user("q2 edited"), reply("a2 new")])
    assert await store.get_items() == [user("q1"), reply("a1"), user("q2 edited"), reply("a2 new")]
    assert await store.get_items(limit=1) == [reply("a2 new")]

    await switch_branch(OWNER, AGENT, "b", 1)
    assert [item["content"] for item in await store.get_items()] == [
        "q1", "a1", "q2", "a2", "q3", "a3"
    ]  # fmt: skip
    # Positions stay unique and in order across branches; counters count every branch.
    positions = [p async for p in ConversationItem.objects.values_list("position", flat=True)]
    assert len(positions) == len(set(positions)) == 6 + 2 + 2
    assert await counters_match("b")


async def test_the_model_sees_only_the_active_branch():
    model = ScriptedModel([[assistant_message("new answer")], [assistant_message("old line")]])
    agent = Agent(name="chat", instructions="Be brief.", model=model)
    await three_turns()
    await fork_conversation(OWNER, AGENT, "b", await user_position("b", "q2"))

    await Runner.run(agent, "q2 edited", session=session())
    assert model.last_call is not None
    assert [item.get("content") for item in model.last_call.input] == ["q1", "a1", "q2 edited"]

    await switch_branch(OWNER, AGENT, "b", 1)
    await Runner.run(agent, "q4", session=session())
    sent = [item.get("content") for item in model.last_call.input]
    assert sent == ["q1", "a1", "q2", "a2", "q3", "a3", "q4"]
    model.assert_complete()


async def test_pop_rewind_and_clear_touch_only_the_active_branch():
    store = await three_turns()
    await fork_conversation(OWNER, AGENT, "b", await user_position("b", "q3"))
    await store.add_items([user("q3 edited"), reply("a3 new")])
    assert await store.pop_item() == reply("a3 new")
    assert (await store.rewind_last_turn()) == user("q3 edited")
    await store.clear_session()
    assert await store.get_items() == []
    assert await counters_match("b")
    await switch_branch(OWNER, AGENT, "b", 1)
    assert len(await store.get_items()) == 6


async def test_a_fork_counts_toward_the_conversation_limits(settings):
    await three_turns()
    settings.MAX_CONVERSATION_ITEMS = 9  # 6 stored; a fork at q3 copies 4
    before = await Conversation.objects.aget(session_id="b")
    with pytest.raises(ConversationFull):
        await fork_conversation(OWNER, AGENT, "b", await user_position("b", "q3"))
    after = await Conversation.objects.aget(session_id="b")
    assert (after.item_count, after.branch_count, after.active_branch) == (
        before.item_count, 1, 1
    )  # fmt: skip
    assert await ConversationBranch.objects.acount() == 0
    settings.MAX_CONVERSATION_ITEMS = 10
    await fork_conversation(OWNER, AGENT, "b", await user_position("b", "q3"))
    assert await counters_match("b")


async def test_fork_and_switch_wait_for_the_run_holding_the_conversation():
    await three_turns()
    position = await user_position("b", "q2")
    token = uuid.uuid4()
    await claim_conversation(OWNER, AGENT, "b", token)
    with pytest.raises(ConversationBusy):
        await fork_conversation(OWNER, AGENT, "b", position)
    with pytest.raises(ConversationBusy):
        await switch_branch(OWNER, AGENT, "b", 1)
    await release_conversation(token)
    await fork_conversation(OWNER, AGENT, "b", position)
    await switch_branch(OWNER, AGENT, "b", 1)


async def test_unknown_conversation_position_or_branch_is_not_found():
    await three_turns()
    reply_position = await user_position("b", "q1") + 1
    for position in (reply_position, 999):
        with pytest.raises(NotFound):
            await fork_conversation(OWNER, AGENT, "b", position)
    with pytest.raises(NotFound):
        await fork_conversation("someone-else", AGENT, "b", 0)
    with pytest.raises(NotFound):
        await switch_branch(OWNER, AGENT, "b", 2)
    # A user message of another branch is not one of the active branch's.
    q3 = await user_position("b", "q3")
    await fork_conversation(OWNER, AGENT, "b", await user_position("b", "q2"))
    with pytest.raises(NotFound):
        await fork_conversation(OWNER, AGENT, "b", q3)


async def test_deleting_the_conversation_deletes_every_branch():
    store = await three_turns()
    await fork_conversation(OWNER, AGENT, "b", await user_position("b", "q2"))
    await store.delete_conversation()
    assert await ConversationBranch.objects.acount() == 0
    assert await ConversationItem.objects.acount() == 0


async def test_the_history_page_names_each_version_of_an_edited_turn():
    store = await three_turns()
    await fork_conversation(OWNER, AGENT, "b", await user_position("b", "q2"))
    await store.add_items([user("q2 v2"), reply("a2 v2")])
    page = await store.read_page(100)
    assert (page.branch, page.branch_count) == (2, 2)
    forks = await read_forks(page)
    assert [(f.position, f.turn, f.branches, f.index) for f in forks] == [
        (page.positions[2], 2, (1, 2), 2)
    ]
    # A page that starts after the fork still numbers its turns from the branch's start.
    last = await store.read_page(2)
    assert last.turns_before == 1
    assert [(f.turn, f.index) for f in await read_forks(last)] == [(2, 2)]

    await switch_branch(OWNER, AGENT, "b", 1)
    main = await store.read_page(100)
    assert [(f.turn, f.branches, f.index) for f in await read_forks(main)] == [(2, (1, 2), 1)]
    assert main.total == 6


def test_versions_of_a_turn_in_a_tree_of_forks():
    # 2 forks main at turn 2; 3 forks 2 at turn 3; 4 forks main at turn 2 again; 5 forks
    # main at turn 3.
    tree = BranchTree([(2, 1, 2), (3, 2, 3), (4, 1, 2), (5, 1, 3)])
    assert tree.versions(1, 1) == (1,)
    assert tree.versions(1, 2) == (1, 2, 4)
    assert tree.versions(3, 2) == (1, 2, 4)
    assert tree.origin(3, 2) == 2 and tree.origin(3, 3) == 3
    # Turn 3 after branch 2's turn 2: branch 2's own and branch 3's.
    assert tree.versions(3, 3) == (2, 3)
    # Turn 3 after main's turn 2: main's own and branch 5's.
    assert tree.versions(1, 3) == (1, 5)
    assert tree.versions(4, 3) == (4,)
