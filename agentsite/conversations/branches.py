"""Branches of a conversation: editing an earlier user message forks the conversation there.

The semantics are the SDK's ``AdvancedSQLiteSession.create_branch_from_turn`` /
``switch_to_branch``: forking at user turn N makes a new branch holding the turns before N and
makes it the active one; the edited message is then sent as a normal run, which appends to it.
Every branch is kept; the conversation's active branch is the one ``DjangoSession`` reads for
the model and appends to, so the model sees only that branch.

A fork copies the turns before N (new rows at new positions: positions only grow, so they stay
unique) rather than pointing at its parent's rows: a turn's read stays one indexed query on
(conversation, branch, position) however the conversation branched, and a later pop, rewind or
compaction of one branch cannot change another. The copies count toward the conversation's
item and byte limits like any item.

Which branches are versions of one turn is worked out from the branches' rows alone
(``BranchTree``): branch B took its turns before ``fork_turn`` from its parent and wrote the
rest itself, so each turn of each branch has an *origin* (the branch that wrote it). Two
branches hold versions of turn N when their turns before N have the same origins; the versions
are the distinct origins of turn N among them, oldest first — what the UI shows as ◀ 1/2 ▶.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from agentsite.branch_models import MAIN_BRANCH, ConversationBranch
from agentsite.conversations.leases import check_room, refuse_if_awaiting_approval
from agentsite.conversations.session import HistoryPage, utf8_size
from agentsite.errors import ConversationBusy, NotFound
from agentsite.models import Conversation, ConversationItem

# Items copied per INSERT when a fork copies the turns before it.
COPY_BATCH = 500
BUSY = "A run is in progress for this session; wait for it or cancel it first"


@dataclass(frozen=True)
class Fork:
    """A user turn of the active branch that has other versions: the branch of each version
    (oldest first) and which of them (1-based) is the active branch's."""

    position: int
    turn: int
    branches: tuple[int, ...]
    index: int


@dataclass(frozen=True)
class BranchState:
    """A conversation's active branch and how many it has, after a fork or a switch;
    ``input`` is the content of the user message a fork gave a new version of."""

    branch: int
    branch_count: int
    input: Any = None


class BranchTree:
    """The branches of one conversation as their rows describe them (no items needed)."""

    def __init__(self, rows: list[tuple[int, int, int]]) -> None:
        """``rows``: ``(number, parent, fork_turn)`` of each branch beyond the main one."""
        self._parent = {number: (parent, turn) for number, parent, turn in rows}
        self.numbers = (MAIN_BRANCH, *sorted(self._parent))

    def origin(self, branch: int, turn: int) -> int:
        """The branch that wrote ``branch``'s version of user turn ``turn``."""
        while branch in self._parent:
            parent, fork_turn = self._parent[branch]
            if turn >= fork_turn:
                return branch
            branch = parent
        return branch

    def _same_before(self, one: int, other: int, turn: int) -> bool:
        """Whether the two branches' turns before ``turn`` have the same origins: origins only
        change at fork turns, so comparing at turn 1 and at each fork turn is enough."""
        checks = {1} | self._forks_on_path(one) | self._forks_on_path(other)
        return all(self.origin(one, t) == self.origin(other, t) for t in checks if t < turn)

    def _forks_on_path(self, branch: int) -> set[int]:
        turns = set()
        while branch in self._parent:
            parent, fork_turn = self._parent[branch]
            turns.add(fork_turn)
            branch = parent
        return turns

    def versions(self, active: int, turn: int) -> tuple[int, ...]:
        """The branches holding each version of ``active``'s user turn ``turn``, oldest
        first (one entry: the turn was never edited)."""
        found = {
            self.origin(branch, turn)
            for branch in self.numbers
            if self._same_before(branch, active, turn)
        }
        return tuple(sorted(found))


def page_forks(page: HistoryPage, rows: list[tuple[int, int, int]]) -> list[Fork]:
    """The forks among the user messages of ``page`` (``rows`` as ``BranchTree`` takes them)."""
    if page.branch_count <= 1:
        return []
    tree = BranchTree(rows)
    forks: list[Fork] = []
    turn = page.turns_before
    for item, position in zip(page.items, page.positions, strict=True):
        if not (isinstance(item, dict) and item.get("role") == "user"):
            continue
        turn += 1
        versions = tree.versions(page.branch, turn)
        if len(versions) > 1:
            index = versions.index(tree.origin(page.branch, turn)) + 1
            forks.append(Fork(position, turn, versions, index))
    return forks


async def read_forks(page: HistoryPage) -> list[Fork]:
    """``page_forks`` of a page ``DjangoSession.read_page`` returned (no query when the
    conversation never forked)."""
    if page.branch_count <= 1 or page.conversation_id is None:
        return []
    rows = [
        (number, parent, turn)
        async for number, parent, turn in ConversationBranch.objects.filter(
            conversation_id=page.conversation_id
        ).values_list("number", "parent", "fork_turn")
    ]
    return page_forks(page, rows)


async def fork_conversation(owner: str, agent: str, session_id: str, position: int) -> BranchState:
    """Fork the conversation at the user message at ``position`` of its active branch: a new
    branch holding the items before it becomes the active one. ``NotFound`` when there is no
    such conversation or user message, ``ConversationBusy`` (or ``ApprovalPending``) while a run
    holds the conversation, ``ConversationFull`` when the copies would not fit its limits."""
    return await sync_to_async(_fork)(owner, agent, session_id, position)


async def switch_branch(owner: str, agent: str, session_id: str, branch: int) -> BranchState:
    """Make ``branch`` the conversation's active branch: what the model sees next turn and
    what the history shows. ``NotFound`` for an unknown branch, ``ConversationBusy`` (or
    ``ApprovalPending``) while a run holds the conversation."""
    return await sync_to_async(_switch)(owner, agent, session_id, branch)


def _idle_conversation(owner: str, agent: str, session_id: str) -> Conversation:
    """The conversation, its row locked until the end of the transaction, and no run holding
    it (the lease is checked under that lock, so no run can start meanwhile)."""
    now = timezone.now()
    conversation = (
        Conversation.objects.select_for_update()
        .with_run_live(now)
        .filter(owner_key=owner, agent=agent, session_id=session_id)
        .first()
    )
    if conversation is None:
        raise NotFound("No such session")
    if conversation.active_run is not None:
        refuse_if_awaiting_approval(conversation.active_run, now)
    if conversation.run_live:
        raise ConversationBusy(BUSY)
    return conversation


def _fork(owner: str, agent: str, session_id: str, position: int) -> BranchState:
    with transaction.atomic():
        conversation = _idle_conversation(owner, agent, session_id)
        branch_items = ConversationItem.objects.filter(
            conversation_id=conversation.pk, branch=conversation.active_branch
        )
        edited = branch_items.filter(position=position, role="user").first()
        if edited is None:
            raise NotFound(f"No user message at position {position} in this session's branch")
        turn = branch_items.filter(role="user", position__lte=position).count()
        before = list(
            branch_items.filter(position__lt=position)
            .order_by("position")
            .values_list("data", "role", "item_type", "interrupted", "created_at")
        )
        size = sum(utf8_size(data) for data, *_ in before)
        check_room((conversation.item_count, conversation.stored_bytes), (len(before), size))
        number = conversation.branch_count + 1
        start = conversation.next_position
        ConversationItem.objects.bulk_create(
            (
                ConversationItem(
                    conversation_id=conversation.pk,
                    branch=number,
                    position=start + offset,
                    data=data,
                    role=role,
                    item_type=item_type,
                    interrupted=interrupted,
                    created_at=created_at,
                )
                for offset, (data, role, item_type, interrupted, created_at) in enumerate(before)
            ),
            batch_size=COPY_BATCH,
        )
        ConversationBranch.objects.create(
            conversation_id=conversation.pk,
            number=number,
            parent=conversation.active_branch,
            fork_turn=turn,
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            active_branch=number,
            branch_count=number,
            next_position=start + len(before),
            item_count=conversation.item_count + len(before),
            stored_bytes=conversation.stored_bytes + size,
            updated_at=timezone.now(),
        )
        return BranchState(number, number, _content(edited.data))


def _switch(owner: str, agent: str, session_id: str, branch: int) -> BranchState:
    with transaction.atomic():
        conversation = _idle_conversation(owner, agent, session_id)
        known = (
            branch == MAIN_BRANCH
            or (
                ConversationBranch.objects.filter(conversation_id=conversation.pk, number=branch)
            ).exists()
        )
        if not known:
            raise NotFound(f"This session has no branch {branch}")
        Conversation.objects.filter(pk=conversation.pk).update(active_branch=branch)
        return BranchState(branch, conversation.branch_count)


def _content(data: str) -> Any:
    """The ``content`` of a stored message (None if it is not readable)."""
    try:
        item = json.loads(data)
    except (json.JSONDecodeError, TypeError):
        return None
    return item.get("content") if isinstance(item, dict) else None
