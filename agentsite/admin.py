"""Staff moderation of conversations (list, search, read the transcript, purge) and API keys."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from agentsite.apikeys import assign_secret, revoke_all
from agentsite.models import ApiKey, Conversation, ConversationItem, Run


def item_text(item: dict[str, Any]) -> str:
    """What a person reads for one stored SDK item: message text, tool call or tool output."""
    kind = item.get("type") or "message"
    if kind == "message" or "role" in item:
        content = item.get("content")
        if isinstance(content, list):
            content = " ".join(
                str(part.get("text") or part.get("refusal") or "")
                for part in content
                if isinstance(part, dict)
            )
        return str(content or "")
    if kind == "function_call":
        return f"{item.get('name')}({item.get('arguments')})"
    if kind == "function_call_output":
        return f"→ {item.get('output')}"
    if kind == "reasoning":
        return " ".join(part.get("text", "") for part in item.get("summary") or [])
    return json.dumps(item, ensure_ascii=False)[:500]


class ConversationItemInline(admin.TabularInline):
    model = ConversationItem
    fields = ("position", "role", "item_type", "text", "interrupted", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("position",)

    @admin.display(description="text")
    def text(self, obj: ConversationItem) -> str:
        return Truncator(item_text(json.loads(obj.data))).chars(300)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "session_id",
        "agent",
        "owner_key",
        "title",
        "item_count",
        "total_tokens",
        "updated_at",
        "running",
    )
    list_filter = ("agent", ("updated_at", admin.DateFieldListFilter), "created_at")
    search_fields = ("session_id", "title", "items__data")
    date_hierarchy = "updated_at"
    ordering = ("-updated_at",)
    actions = ("purge_selected",)
    readonly_fields = (
        "agent",
        "session_id",
        "owner_key",
        "title",
        "item_count",
        "requests",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "active_run",
        "run_lease_until",
        "created_at",
        "updated_at",
        "transcript",
    )
    fields = readonly_fields
    inlines = (ConversationItemInline,)
    list_per_page = 50

    @admin.display(boolean=True, description="run active")
    def running(self, obj: Conversation) -> bool:
        return obj.active_run is not None

    @admin.display(description="transcript")
    def transcript(self, obj: Conversation) -> str:
        items = obj.items.order_by("position")
        rows = ((item.role or item.item_type, item_text(json.loads(item.data))) for item in items)
        return format_html(
            '<ol class="transcript">{}</ol>',
            format_html_join("", "<li><strong>{}</strong>: {}</li>", rows),
        )

    @admin.action(description="Purge selected conversations and all their items")
    def purge_selected(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        count = queryset.count()
        queryset.delete()
        self.message_user(request, f"Purged {count} conversation(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ConversationItem)
class ConversationItemAdmin(admin.ModelAdmin):
    list_display = ("conversation", "position", "role", "item_type", "created_at")
    list_filter = ("role", "item_type")
    search_fields = ("data", "conversation__session_id")
    readonly_fields = ("conversation", "position", "role", "item_type", "created_at", "pretty_data")
    fields = readonly_fields
    list_select_related = ("conversation",)

    @admin.display(description="item (JSON)")
    def pretty_data(self, obj: ConversationItem) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(json.loads(obj.data), indent=2, ensure_ascii=False)
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Issue keys (the plaintext is shown once, in the success message), list them, revoke them.

    A key is immutable once issued: its owner namespace is ``key:<pk>``, so re-pointing it at
    another user or renaming it into another client's identity would silently move
    conversations. Deleting is disabled for the same reason and because a revoked key is the
    audit trail; revoke instead.
    """

    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    ordering = ("-created_at",)
    actions = ("revoke_selected",)
    add_fields = ("name", "user")
    readonly_fields = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    raw_id_fields = ("user",)

    @admin.display(boolean=True, description="revoked", ordering="revoked_at")
    def revoked(self, obj: ApiKey) -> bool:
        return obj.revoked_at is not None

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        return self.add_fields if obj is None else self.readonly_fields

    def get_readonly_fields(
        self, request: HttpRequest, obj: ApiKey | None = None
    ) -> tuple[str, ...]:
        return () if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiKey, form: ModelForm, change: bool) -> None:
        if change:
            return
        raw = assign_secret(obj)
        super().save_model(request, obj, form, change)
        self.message_user(
            request,
            format_html(
                "API key “{}” created: <code>{}</code> — copy it now, it is not stored and "
                "cannot be shown again.",
                obj.name,
                raw,
            ),
            messages.SUCCESS,
        )

    @admin.action(description="Revoke selected keys", permissions=("change",))
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = revoke_all(queryset)
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    """The run ledger: what ran, for whom, how it ended, what it cost."""

    list_display = (
        "started_at",
        "agent",
        "session_id",
        "owner_key",
        "status",
        "model",
        "total_tokens",
        "latency_ms",
        "cancelled_by",
    )
    list_filter = ("status", "agent", "model", ("started_at", admin.DateFieldListFilter))
    search_fields = ("id", "session_id", "owner_key", "error")
    date_hierarchy = "started_at"
    list_select_related = ("conversation",)
    readonly_fields = [field.name for field in Run._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
