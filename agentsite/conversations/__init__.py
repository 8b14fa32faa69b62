"""Conversations: the SDK ``Session`` adapter over the Django models, and the rules around it.

``session`` is ``DjangoSession`` (the SDK's Session protocol); ``leases`` the
one-run-at-a-time claim on a conversation and its usage totals; ``listing`` an owner's
conversations across agents (search, rename, claim into an account); ``retention`` the one way a
conversation is deleted; ``items`` the text of a stored item; ``sql`` and ``dbthread`` the
few hand-written writes and the thread a run's SQL runs in.
"""

from agentsite.conversations.items import item_text, message_text
from agentsite.conversations.leases import claim_conversation
from agentsite.conversations.listing import list_conversations
from agentsite.conversations.retention import delete_conversation, delete_conversations
from agentsite.conversations.session import DjangoSession

__all__ = [
    "DjangoSession",
    "claim_conversation",
    "delete_conversation",
    "delete_conversations",
    "item_text",
    "list_conversations",
    "message_text",
]
