"""An owner's conversations as the web UI's sidebar shows them: across agents, newest first,
searched, renamed, and claimed by an account.

Search is full text over what was said, not over the stored JSON: a word like "content" or
"role" is in every item's JSON, so the database narrows the candidates (title, or an item's JSON
containing the words) and ``item_text`` decides. It only ever reads the caller's own rows.
"""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import sync_to_async
from django.db import IntegrityError, transaction

from agentsite.conversations.items import item_text
from agentsite.models import Conversation, ConversationItem, Feedback, Run

# Items a person wrote or read: tool calls and outputs are searched too (a tool's result is
# part of the answer), reasoning is not.
SEARCHED_TYPES = ("message", "function_call", "function_call_output", "")
# A conversation's runs shown beside its replies: the latest ones of a long conversation.
RUNS_LISTED = 500


async def list_conversations(
    owner: str, agents: list[str], page: int, page_size: int, query: str = ""
) -> tuple[list[dict[str, Any]], int]:
    """One page of the owner's conversations with these agents, most recently updated first;
    with ``query``, only those whose title or text contains every word of it."""
    return await sync_to_async(_list_conversations)(owner, agents, page, page_size, query)


def _list_conversations(
    owner: str, agents: list[str], page: int, page_size: int, query: str
) -> tuple[list[dict[str, Any]], int]:
    mine = Conversation.objects.filter(owner_key=owner, agent__in=agents)
    words = query.split()
    if words:
        mine = mine.filter(pk__in=_matching_ids(mine, words))
    total = mine.count()
    start = (page - 1) * page_size
    rows = mine.with_run_live().order_by("-updated_at", "-pk")[start : start + page_size]
    return [_row(conversation) for conversation in rows], total


def _row(conversation: Conversation) -> dict[str, Any]:
    return {
        "session_id": conversation.session_id,
        "agent": conversation.agent,
        "title": conversation.title,
        "item_count": conversation.item_count,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
        "active": conversation.run_live,
    }


def _matching_ids(conversations: Any, words: list[str]) -> list[int]:
    """Ids of the conversations whose title, or whose items' text, holds every word."""
    ids = set(conversations.values_list("pk", flat=True))
    for word in words:
        titled = set(conversations.filter(title__icontains=word).values_list("pk", flat=True))
        ids &= titled | _ids_saying(ids - titled, word)
        if not ids:
            break
    return list(ids)


def _ids_saying(ids: set[int], word: str) -> set[int]:
    """Of these conversations, those with an item whose text contains ``word``. The database
    narrows the candidates for an ASCII word; a non-ASCII one is stored escaped in the JSON
    (and SQLite folds only ASCII case), so its candidates are all the items."""
    candidates = ConversationItem.objects.filter(
        conversation_id__in=ids, item_type__in=SEARCHED_TYPES
    )
    if word.isascii():
        candidates = candidates.filter(data__icontains=word)
    found: set[int] = set()
    lowered = word.lower()
    rows = candidates.values_list("conversation_id", "data")
    for conversation_id, data in rows.iterator():
        if conversation_id not in found and lowered in item_text(json.loads(data)).lower():
            found.add(conversation_id)
    return found


async def rename_conversation(owner: str, agent: str, session_id: str, title: str) -> bool:
    """Give the conversation a title of the owner's choosing; False when there is none."""
    updated = await Conversation.objects.filter(
        owner_key=owner, agent=agent, session_id=session_id
    ).aupdate(title=title)
    return updated > 0


async def claimable_count(browser_owner: str) -> int:
    return await Conversation.objects.filter(owner_key=browser_owner).acount()


async def claim_conversations(browser_owner: str, account_owner: str) -> int:
    """Move a browser's conversations (with their runs and feedback) into an account: what a
    visitor had before logging in stays theirs. A session id the account already uses for that agent
    stays with the browser rather than merging two histories."""
    return await sync_to_async(_claim_conversations)(browser_owner, account_owner)


def _claim_conversations(browser_owner: str, account_owner: str) -> int:
    claimed = 0
    for conversation in Conversation.objects.filter(owner_key=browser_owner):
        try:
            with transaction.atomic():
                moved = Conversation.objects.filter(pk=conversation.pk).update(
                    owner_key=account_owner
                )
                Run.objects.filter(conversation_id=conversation.pk).update(owner_key=account_owner)
                Feedback.objects.filter(conversation_id=conversation.pk).update(
                    owner_key=account_owner
                )
        except IntegrityError:
            continue
        claimed += moved
    return claimed


async def conversation_runs(owner: str, agent: str, session_id: str) -> list[dict[str, Any]]:
    """The conversation's runs, oldest first: which model answered each turn and what it
    cost, for the UI to show beside the replies."""
    runs = Run.objects.filter(owner_key=owner, agent=agent, session_id=session_id).order_by(
        "started_at"
    )
    return [
        {
            "run_id": str(run.id),
            "status": run.status,
            "model": run.model,
            "usage": run.usage,
            "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        }
        async for run in runs[:RUNS_LISTED]
    ]
