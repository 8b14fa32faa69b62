"""Feedback on assistant replies: thumbs up or down, with an optional comment (DESIGN.md §10).

Imported by ``agentsite.models``, so Django registers it with the app's other models. A reply is
named by its conversation and the position of its assistant message item: positions only ever
grow (``Conversation.next_position``) and are unique in a conversation, so a position names the
same item for the conversation's whole life, whatever is appended, rewound or branched later.
Deleting the conversation (the API's delete, the admin's purge, an owner's erase) deletes its
feedback with it; an item removed on its own (a rewind) leaves its feedback as a record.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

# Longest comment kept: a sentence or a paragraph about one reply, not a document.
COMMENT_MAX_CHARS = 2000


class Rating(models.TextChoices):
    UP = "up", "thumbs up"
    DOWN = "down", "thumbs down"


class Feedback(models.Model):
    """One owner's rating of one assistant reply; giving it again replaces it."""

    # No index of its own: the unique (conversation, position) index serves it.
    conversation = models.ForeignKey(
        "agentsite.Conversation",
        on_delete=models.CASCADE,
        related_name="feedback",
        db_index=False,
    )
    # The assistant message item rated (``ConversationItem.position``).
    position = models.BigIntegerField()
    # Who rated it: the conversation's owner when they did ("user:7", "key:3", "browser:…").
    owner_key = models.CharField(max_length=160, db_index=True)
    # The conversation's agent (slug), kept for filtering without a join.
    agent = models.CharField(max_length=64)
    rating = models.CharField(max_length=8, choices=Rating.choices)
    comment = models.TextField(blank=True, max_length=COMMENT_MAX_CHARS)
    # The run that wrote the reply and its model, when the ledger knows them.
    run = models.ForeignKey(
        "agentsite.Run",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="feedback",
    )
    model = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name_plural = "feedback"
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "position"], name="one_feedback_per_reply"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_rating_display()} on {self.conversation_id}#{self.position}"
