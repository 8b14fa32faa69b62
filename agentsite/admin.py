"""Staff moderation: conversations (list, search, read, export, purge, legal hold, an owner's
data), the run ledger with its daily usage view, API keys, the approval inbox
(``agentsite.approval_admin``), the users' feedback on replies (``agentsite.feedback_admin``) and
the audit log (``agentsite.governance.audit_admin``), where each staff action on content is
recorded."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from agentsite import approval_admin  # noqa: F401  (registers the approval inbox)
from agentsite.conversations.retention import PurgeResult, delete_conversations
from agentsite.feedback_admin import feedback_table
from agentsite.governance import (
    audit_admin,  # noqa: F401  (registers the audit log)
    quota_admin,  # noqa: F401  (registers quota overrides)
)
from agentsite.governance.audit import record, staff_actor
from agentsite.governance.audit_admin import AuditedReadsAdmin
from agentsite.governance.audit_models import AuditAction
from agentsite.governance.cost import run_cost, total_cost, usage_breakdown
from agentsite.governance.moderation import (
    export_conversation,
    transcript,
    usage_by_agent_and_model,
    usage_per_day,
)
from agentsite.governance.owner_admin import owner_data_page
from agentsite.models import (
    ApiKey,
    Conversation,
    ConversationItem,
    ConversationQuerySet,
    Run,
    RunStatus,
)
from agentsite.web.apikeys import assign_secret, revoke_all

USAGE_DAYS = (7, 30, 90)


@admin.register(Conversation)
class ConversationAdmin(AuditedReadsAdmin):
    audit_target = "conversation"
    # Fits a 1366 px screen: the title is the link (the session id is searchable and on the
    # page), owners are shortened (their full key in the tooltip and on the page).
    list_display = (
        "title_link",
        "agent",
        "owner_label",
        "item_count",
        "total_tokens",
        "updated_at",
        "running",
        "legal_hold",
    )
    list_display_links = ("title_link",)
    list_filter = (
        "agent",
        ("updated_at", admin.DateFieldListFilter),
        "created_at",
        "legal_hold",
    )
    search_fields = ("session_id", "title", "items__data")
    date_hierarchy = "updated_at"
    ordering = ("-updated_at",)
    actions = (
        "purge_selected",
        "export_selected",
        "place_legal_hold",
        "release_legal_hold",
        "owner_data_of_selected",
    )
    readonly_fields = (
        "transcript",
        "feedback",
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
        "legal_hold",
        "created_at",
        "updated_at",
        "export",
    )
    # The page opens on the transcript (the one list of the items); the metadata follows.
    fieldsets = (
        (None, {"fields": ("transcript",)}),
        # The users' ratings of its replies, after the transcript they point into.
        ("Feedback on replies", {"fields": ("feedback",)}),
        ("Details", {"fields": readonly_fields[2:]}),
    )
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        # The default manager is ConversationQuerySet.as_manager(); ModelAdmin types it plainly.
        return cast(ConversationQuerySet, super().get_queryset(request)).with_run_live()

    @admin.display(description="title", ordering="title")
    def title_link(self, obj: Conversation) -> str:
        """The title, cut to fit; the session id in its tooltip."""
        title = Truncator(obj.title or obj.session_id).chars(60)
        return format_html('<span title="session {}">{}</span>', obj.session_id, title)

    @admin.display(description="owner", ordering="owner_key")
    def owner_label(self, obj: Conversation) -> str:
        return owner_label(obj.owner_key)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """A conversation's page is read-only (a transcript is evidence, not a form: no Save
        buttons); the list's actions keep the staff member's own change permission."""
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """No delete page for a conversation under legal hold (every deletion skips it)."""
        if obj is not None and obj.legal_hold:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        """One deletion action: the purge (which asks first), not also Django's own."""
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(boolean=True, description="run active")
    def running(self, obj: Conversation) -> bool:
        """Whether a run holds it now: a run whose process died leaves an expired lease."""
        return obj.run_live

    @admin.display(description="export")
    def export(self, obj: Conversation) -> str:
        url = reverse("admin:agentsite_conversation_export", args=[obj.pk])
        return format_html('<a class="button" href="{}">Export as JSON</a>', url)

    @admin.display(description="transcript")
    def transcript(self, obj: Conversation) -> str:
        """Each item as a turn (who, what) with its raw JSON one click away."""
        rows = (
            (
                turn.kind.replace(" ", "-"),
                turn.position,
                turn.kind,
                (f" (branch {turn.branch})" if turn.branch > 1 else "")
                + (" (interrupted: the client stopped the run here)" if turn.interrupted else ""),
                turn.text,
                turn.raw,
            )
            for turn in transcript(obj)
        )
        return format_html(
            '<ol class="transcript">{}</ol>',
            format_html_join(
                "",
                '<li class="turn turn-{}" value="{}"><strong>{}</strong><em>{}</em>: '
                '<span style="white-space: pre-wrap">{}</span>'
                "<details><summary>raw JSON</summary><pre>{}</pre></details></li>",
                rows,
            ),
        )

    @admin.display(description="ratings")
    def feedback(self, obj: Conversation) -> str:
        return feedback_table(obj)

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "<int:pk>/export/",
            self.admin_site.admin_view(self.export_view),
            name="agentsite_conversation_export",
        )
        owner_data = path(
            "owner-data/",
            self.admin_site.admin_view(self.owner_data_view),
            name="agentsite_owner_data",
        )
        return [export, owner_data, *super().get_urls()]

    def owner_data_view(self, request: HttpRequest) -> HttpResponse:
        return owner_data_page(self, request, _json_download)

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        conversation = get_object_or_404(Conversation, pk=pk)
        data = export_conversation(conversation)
        self.audit(request, AuditAction.EXPORTED, [(conversation.pk, conversation.owner_key)])
        return _json_download(data, f"conversation-{pk}.json")

    @admin.action(description="Export selected conversations as JSON", permissions=("view",))
    def export_selected(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> Any:
        conversations = list(queryset)
        data = [export_conversation(conversation) for conversation in conversations]
        self.audit(request, AuditAction.EXPORTED, [(c.pk, c.owner_key) for c in conversations])
        return _json_download(data, "conversations.json")

    @admin.action(
        description="Place a legal hold on selected conversations", permissions=("change",)
    )
    def place_legal_hold(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        """Held conversations are kept out of every purge and erase, and their owners cannot
        delete them."""
        self.set_legal_hold(request, queryset, True)

    @admin.action(
        description="Release the legal hold on selected conversations", permissions=("change",)
    )
    def release_legal_hold(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self.set_legal_hold(request, queryset, False)

    def set_legal_hold(
        self, request: HttpRequest, queryset: QuerySet[Conversation], hold: bool
    ) -> None:
        changed = list(queryset.exclude(legal_hold=hold).values_list("pk", "owner_key"))
        Conversation.objects.filter(pk__in=[pk for pk, _ in changed]).update(legal_hold=hold)
        action = AuditAction.LEGAL_HOLD_PLACED if hold else AuditAction.LEGAL_HOLD_RELEASED
        if changed:
            self.audit(request, action, changed)
        verb = "Placed a legal hold on" if hold else "Released the legal hold on"
        self.message_user(request, f"{verb} {len(changed)} conversation(s).", messages.SUCCESS)

    @admin.action(
        description="Export or erase the data of the selected conversations' owner",
        permissions=("view",),
    )
    def owner_data_of_selected(
        self, request: HttpRequest, queryset: QuerySet[Conversation]
    ) -> HttpResponse | None:
        """Opens the owner data page for the one owner of the selected conversations."""
        owners = sorted(set(queryset.values_list("owner_key", flat=True)))
        if len(owners) != 1:
            self.message_user(
                request, "Select conversations of exactly one owner.", messages.WARNING
            )
            return None
        query = QueryDict(mutable=True)
        query["owner"] = owners[0]
        url = reverse("admin:agentsite_owner_data")
        return HttpResponseRedirect(f"{url}?{query.urlencode()}")

    def audit(
        self, request: HttpRequest, action: AuditAction, conversations: list[tuple[int, str]]
    ) -> None:
        """Record ``action`` on these (pk, owner key) conversations as the staff member's."""
        pks = [pk for pk, _ in conversations]
        owners = [owner for _, owner in conversations]
        record(staff_actor(request), action, "conversation", pks, owners)

    @admin.action(description="Purge selected conversations and all their items")
    def purge_selected(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> Any:
        """First shows what would go and asks again, whether picked by hand or "select all N
        matching" (a purge by filter). Conversations with a live run are kept."""
        if request.POST.get("confirm") != "yes":
            preview = delete_conversations(queryset, dry_run=True)
            context = {
                **self.admin_site.each_context(request),
                "title": "Purge conversations?",
                "opts": self.model._meta,
                "preview": preview,
                "query_string": request.GET.urlencode(),
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across") == "1",
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(
                request, "admin/agentsite/conversation/purge_confirmation.html", context
            )
        result = delete_conversations(queryset)
        self.report_deletion(request, result)
        return None

    def delete_model(self, request: HttpRequest, obj: Conversation) -> None:
        """The change page's Delete: the same deletion as the purge (content everywhere)."""
        self.report_live(request, delete_conversations(Conversation.objects.filter(pk=obj.pk)))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        """Django's "Delete selected" action: the same deletion as the purge."""
        self.report_live(request, delete_conversations(queryset))

    def report_deletion(self, request: HttpRequest, result: PurgeResult) -> None:
        self.message_user(
            request,
            f"Purged {result.conversations} conversation(s) with {result.items} item(s).",
            messages.SUCCESS,
        )
        self.report_live(request, result)

    def report_live(self, request: HttpRequest, result: PurgeResult) -> None:
        """Every deletion ends here: it is recorded, and what was kept is said."""
        if result.deleted:
            self.audit(request, AuditAction.PURGED, list(result.deleted))
        if result.skipped_held:
            self.message_user(
                request,
                f"Kept {result.skipped_held} conversation(s) under legal hold.",
                messages.WARNING,
            )
        if result.skipped_live:
            self.message_user(
                request,
                f"Kept {result.skipped_live} conversation(s) with a run in progress.",
                messages.WARNING,
            )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ConversationItem)
class ConversationItemAdmin(AuditedReadsAdmin):
    audit_target = "item"
    list_display = ("conversation", "position", "role", "item_type", "created_at")
    list_filter = ("role", "item_type")
    search_fields = ("data", "conversation__session_id")
    readonly_fields = ("conversation", "position", "role", "item_type", "created_at", "pretty_data")
    fields = readonly_fields

    def audit_owner(self, obj: ConversationItem) -> str:
        return obj.conversation.owner_key

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
    """Issue keys (the plaintext is shown once, on the page answering the add form), list
    them, revoke them.

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
        # Held on the instance only until response_add renders it: nowhere else to keep it.
        obj.issued_secret = assign_secret(obj)  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        """Show the new key on the page that answers the add form, instead of the usual
        redirect with a success message: messages travel in a signed, not encrypted, cookie
        (or the session), so the plaintext would be stored in the browser and could be read
        back from it. ``no-store`` keeps the page out of caches."""
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "opts": self.model._meta,
            "key": obj,
            "secret": obj.issued_secret,  # type: ignore[attr-defined]
        }
        response = TemplateResponse(request, "admin/agentsite/apikey/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected keys", permissions=("change",))
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = revoke_all(queryset)
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(AuditedReadsAdmin):
    audit_target = "run"
    """The run ledger: what ran, for whom, how it ended, what it cost."""

    list_display = (
        "started_at",
        "agent",
        "session_id",
        "owner_key",
        "status",
        "model",
        "total_tokens",
        "estimated_cost",
        "latency_ms",
        "cancelled_by",
    )
    list_filter = (
        "status",
        "agent",
        "model",
        ("started_at", admin.DateFieldListFilter),
        ("conversation", admin.EmptyFieldListFilter),
    )
    search_fields = ("id", "session_id", "owner_key", "error")
    date_hierarchy = "started_at"
    list_select_related = ("conversation",)
    readonly_fields = [field.name for field in Run._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="est. cost (USD)")
    def estimated_cost(self, obj: Run) -> str:
        """At MODEL_PRICES (``agentsite.governance.cost``); "—" for a model with no price."""
        cost = run_cost(obj)
        return "—" if cost is None else f"{cost:.6f}"

    def get_urls(self) -> list[URLPattern]:
        usage = path(
            "usage/", self.admin_site.admin_view(self.usage_view), name="agentsite_run_usage"
        )
        return [usage, *super().get_urls()]

    def usage_view(self, request: HttpRequest) -> HttpResponse:
        """Runs, tokens and failures per day, as a table with CSS bars (no scripts)."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        try:
            days = int(request.GET.get("days", 30))
        except ValueError:
            days = 30
        days = days if days in USAGE_DAYS else 30
        rows = usage_per_day(days)
        breakdown = usage_by_agent_and_model(days)
        since = Run.objects.filter(
            started_at__date__gte=timezone.now().date() - timedelta(days=days - 1)
        )
        costs = usage_breakdown(since, ["agent", "model"])
        cost_of = {(row["agent"], row["model"]): row["estimated_cost"] for row in costs}
        for row in breakdown:
            model = "" if row["model"] == "(unknown)" else row["model"]
            row["estimated_cost"] = cost_of.get((row["agent"], model), 0.0)
        by_owner = usage_breakdown(since, ["owner_key"])
        peak = max((row.total_tokens for row in rows), default=0) or 1
        context = {
            **self.admin_site.each_context(request),
            "title": f"Usage per day, last {days} days",
            "opts": self.model._meta,
            "days": days,
            "choices": USAGE_DAYS,
            "rows": [(row, round(100 * row.total_tokens / peak)) for row in rows],
            "breakdown": breakdown,
            "by_owner": by_owner,
            "totals": {
                "runs": sum(row.runs for row in rows),
                "failed": sum(row.failed for row in rows),
                "cancelled": sum(row.cancelled for row in rows),
                "total_tokens": sum(row.total_tokens for row in rows),
                "estimated_cost": total_cost(costs),
            },
            "failed_url": reverse("admin:agentsite_run_changelist")
            + f"?status__exact={RunStatus.FAILED}",
        }
        return TemplateResponse(request, "admin/agentsite/run/usage.html", context)


def owner_label(owner_key: str) -> str:
    """An owner key short enough for a list column: ``browser:3fA9…`` rather than 24 random
    characters; users and keys are short already."""
    kind, _, ident = owner_key.partition(":")
    if len(ident) > 8:
        return format_html('<span title="{}">{}:{}…</span>', owner_key, kind, ident[:6])
    return owner_key


def _json_download(data: Any, filename: str) -> JsonResponse:
    response = JsonResponse(
        data,
        encoder=DjangoJSONEncoder,
        safe=False,
        json_dumps_params={"indent": 2, "ensure_ascii": False},
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
