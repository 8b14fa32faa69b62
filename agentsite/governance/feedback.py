"""Feedback on assistant replies (DESIGN.md §10): give, replace, clear, and read it back.

The one home of the rules every client goes through (the native API, the WebSocket ``feedback``
frame, the web UI by way of the API): only the owner of a conversation rates its replies, only
an assistant message can be rated, and one rating per reply, the latest replacing the earlier.
Each call is one transaction on a database thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from agentsite.errors import AgentSiteError, NotFound
from agentsite.feedback_models import Feedback, Rating
from agentsite.models import Conversation, ConversationItem, Run


class NotAnAssistantReply(AgentSiteError):
    """The item exists but is not an assistant message (a user turn, a tool call or output)."""

    status = 422
    message = "Only an assistant reply can be rated"


async def give_feedback(
    owner: str, agent: str, session_id: str, position: int, rating: Rating, comment: str
) -> Feedback:
    """Rate the assistant message at ``position`` of the owner's conversation, replacing the
    owner's earlier rating of it. ``NotFound`` for another owner's conversation or an item that
    is not there, ``NotAnAssistantReply`` for any other item."""
    return await sync_to_async(_give_feedback)(owner, agent, session_id, position, rating, comment)


async def clear_feedback(owner: str, agent: str, session_id: str, position: int) -> None:
    """Take back the owner's rating of that reply; ``NotFound`` as for ``give_feedback``
    (clearing a reply not rated is not an error)."""
    await sync_to_async(_clear_feedback)(owner, agent, session_id, position)


async def feedback_on_items(
    owner: str, agent: str, session_id: str, positions: Sequence[int]
) -> list[dict[str, Any]]:
    """The owner's feedback on the items at ``positions`` (a history page), oldest first."""
    if not positions:
        return []
    rows = Feedback.objects.filter(
        conversation__owner_key=owner,
        conversation__agent=agent,
        conversation__session_id=session_id,
        position__gte=min(positions),
        position__lte=max(positions),
    ).order_by("position")
    wanted = set(positions)
    return [feedback_out(row) async for row in rows if row.position in wanted]


def feedback_out(feedback: Feedback) -> dict[str, Any]:
    """A rating as the API and the WebSocket show it."""
    return {
        "position": feedback.position,
        "rating": feedback.rating,
        "comment": feedback.comment,
        "run_id": str(feedback.run_id) if feedback.run_id else None,
        "model": feedback.model,
        "created_at": feedback.created_at.isoformat(),
        "updated_at": feedback.updated_at.isoformat(),
    }


def _give_feedback(
    owner: str, agent: str, session_id: str, position: int, rating: Rating, comment: str
) -> Feedback:
    with transaction.atomic():
        conversation = _conversation(owner, agent, session_id)
        item = _assistant_item(conversation, position)
        run = _run_that_wrote(conversation, item)
        feedback, _ = Feedback.objects.update_or_create(
            conversation=conversation,
            position=position,
            defaults={
                "owner_key": owner,
                "agent": agent,
                "rating": rating,
                "comment": comment,
                "run": run,
                "model": run.model if run else "",
                "updated_at": timezone.now(),
            },
        )
        return feedback


def _clear_feedback(owner: str, agent: str, session_id: str, position: int) -> None:
    with transaction.atomic():
        conversation = _conversation(owner, agent, session_id)
        _assistant_item(conversation, position)
        Feedback.objects.filter(conversation=conversation, position=position).delete()


def _conversation(owner: str, agent: str, session_id: str) -> Conversation:
    # Another owner's conversation is a 404 like a missing one: its existence is not told.
    conversation = Conversation.objects.filter(
        owner_key=owner, agent=agent, session_id=session_id
    ).first()
    if conversation is None:
        raise NotFound("No such session")
    return conversation


def _assistant_item(conversation: Conversation, position: int) -> ConversationItem:
    item = ConversationItem.objects.filter(conversation=conversation, position=position).first()
    if item is None:
        raise NotFound(f"No item at position {position} in this session")
    if item.role != "assistant":
        raise NotAnAssistantReply(
            f"The item at position {position} is not an assistant reply "
            f"({item.role or item.item_type}); only assistant replies can be rated"
        )
    return item


def _run_that_wrote(conversation: Conversation, item: ConversationItem) -> Run | None:
    """The conversation's last run started before the item was stored: the one that wrote it
    (one run at a time per conversation)."""
    return (
        Run.objects.filter(conversation=conversation, started_at__lte=item.created_at)
        .order_by("-started_at")
        .first()
    )
