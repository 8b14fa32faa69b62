"""The branches of a conversation: what editing an earlier user message makes.

Imported by ``agentsite.models``, so Django registers it with the app's other models. Branch 1
(the main branch) is every conversation's first and has no row here, so a conversation that
was never forked costs nothing extra; each fork adds one row. The rules (fork, switch, which
branches are variants of one turn) live in ``agentsite.conversations.branches``.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

MAIN_BRANCH = 1


class ConversationBranch(models.Model):
    """Branch ``number`` of a conversation: a copy of branch ``parent``'s items before its user
    turn ``fork_turn``, then a new version of that turn and whatever followed it.

    Deleting the conversation deletes its branches (and, by its own cascade, their items).
    """

    conversation = models.ForeignKey(
        "agentsite.Conversation", on_delete=models.CASCADE, related_name="branches"
    )
    # 2, 3, … in the order the branches were made (1 is the main branch, which has no row).
    number = models.PositiveIntegerField()
    parent = models.PositiveIntegerField()
    # The parent's user turn (1 = its first user message) this branch gives a new version of.
    fork_turn = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["conversation_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "number"], name="unique_branch_number")
        ]

    def __str__(self) -> str:
        return (
            f"{self.conversation_id} branch {self.number} (turn {self.fork_turn} of {self.parent})"
        )
