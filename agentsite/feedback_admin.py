"""Feedback on assistant replies in the admin: a list staff filter by rating, agent, date and
comment, and a read-only section beside the transcript on each conversation's page
(``feedback_table``, used by ``agentsite.admin.ConversationAdmin``).

Feedback is the users' record: staff read it, never write it (no add, no change).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from agentsite.conversations.items import item_text
from agentsite.governance.audit_admin import AuditedReadsAdmin
from agentsite.models import Conversation, ConversationItem, Feedback

EXCERPT_CHARS = 80


class HasComment(admin.SimpleListFilter):
    title = "has comment"
    parameter_name = "has_comment"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "yes"), ("no", "no")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.exclude(comment="")
        if self.value() == "no":
            return queryset.filter(comment="")
        return queryset


def with_reply_data(queryset: QuerySet[Feedback]) -> QuerySet[Feedback]:
    """Each rating with ``reply_data``: the rated item's JSON, in the same query (None once the
    item is gone, e.g. rewound)."""
    item = ConversationItem.objects.filter(
        conversation=OuterRef("conversation"), position=OuterRef("position")
    )
    return queryset.annotate(reply_data=Subquery(item.values("data")[:1]))


def reply_text(feedback: Feedback, chars: int | None = None) -> str:
    data = getattr(feedback, "reply_data", None)
    if data is None:
        return "(the reply is no longer stored)"
    try:
        text = item_text(json.loads(data))
    except (TypeError, ValueError):
        return "(unreadable item)"
    return Truncator(text).chars(chars) if chars else text


@admin.register(Feedback)
class FeedbackAdmin(AuditedReadsAdmin):
    # The list and the pages quote the rated replies: reading them is in the audit log.
    audit_target = "feedback"
    audit_list_reads = True
    list_display = (
        "updated_at",
        "rating",
        "agent",
        "conversation_link",
        "reply_excerpt",
        "comment_excerpt",
        "model",
        "owner_key",
    )
    list_filter = (
        "rating",
        "agent",
        ("updated_at", admin.DateFieldListFilter),
        HasComment,
        "model",
    )
    search_fields = ("comment", "conversation__session_id", "conversation__title", "owner_key")
    date_hierarchy = "updated_at"
    list_select_related = ("conversation",)
    readonly_fields = (
        "conversation_link",
        "position",
        "reply",
        "rating",
        "comment",
        "agent",
        "owner_key",
        "run",
        "model",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Feedback]:
        return with_reply_data(super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        """The ratings are what the users said: staff read them, never write them."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="conversation", ordering="conversation__title")
    def conversation_link(self, obj: Feedback) -> str:
        url = reverse("admin:agentsite_conversation_change", args=[obj.conversation_id])
        title = Truncator(obj.conversation.title or obj.conversation.session_id).chars(40)
        return format_html('<a href="{}">{}</a> #{}', url, title, obj.position)

    @admin.display(description="reply")
    def reply_excerpt(self, obj: Feedback) -> str:
        return reply_text(obj, EXCERPT_CHARS)

    @admin.display(description="reply")
    def reply(self, obj: Feedback) -> str:
        return format_html('<span style="white-space: pre-wrap">{}</span>', reply_text(obj))

    @admin.display(description="comment", ordering="comment")
    def comment_excerpt(self, obj: Feedback) -> str:
        return Truncator(obj.comment).chars(EXCERPT_CHARS)


def feedback_table(conversation: Conversation) -> str:
    """The conversation's ratings as a read-only table, by the transcript position they rate."""
    rows = with_reply_data(conversation.feedback.order_by("position"))
    cells = (
        (
            feedback.position,
            feedback.get_rating_display(),
            feedback.comment,
            reply_text(feedback, EXCERPT_CHARS),
            feedback.model,
            feedback.updated_at.strftime("%Y-%m-%d %H:%M"),
        )
        for feedback in rows
    )
    body = format_html_join(
        "",
        '<tr><td>#{}</td><td>{}</td><td style="white-space: pre-wrap">{}</td><td>{}</td>'
        "<td>{}</td><td>{}</td></tr>",
        cells,
    )
    if not body:
        return format_html("<p>{}</p>", "No feedback on this conversation's replies.")
    return format_html(
        '<table class="feedback"><thead><tr><th>turn</th><th>rating</th><th>comment</th>'
        "<th>reply</th><th>model</th><th>when</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )
