"""The audit log in the admin: superusers read it; nobody adds, changes or deletes an entry.

``AuditedReadsAdmin`` is the base of every admin whose pages show content: a conversation's
transcript, an item, a run, a research report, a rating (with the reply it quotes), a tool call
awaiting approval (its arguments). Each read of such a page — and of the lists that show
content too (``audit_list_reads``: the feedback list, the approval inbox) — is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.utils.text import Truncator

from agentsite.governance.audit import record, staff_actor
from agentsite.governance.audit_models import AuditAction, AuditEntry


def record_page_view(
    request: HttpRequest,
    response: HttpResponse,
    action: AuditAction,
    target_type: str,
    owner_of: Callable[[Any], str],
) -> HttpResponse:
    """Record that the staff member read the object a change page showed (``owner_of`` it
    names whose it is); nothing for a redirect, an error or a form post."""
    context = getattr(response, "context_data", None) or {}
    shown: Model | None = context.get("original")
    if request.method == "GET" and response.status_code == 200 and shown is not None:
        record(staff_actor(request), action, target_type, [shown.pk], [owner_of(shown)])
    return response


def record_list_view(
    request: HttpRequest, response: HttpResponse, target_type: str, owner_of: Callable[[Any], str]
) -> HttpResponse:
    """Record that the staff member read the rows a change list showed (one entry for the
    page, naming its rows and their owners); nothing for a redirect or an action's post."""
    context = getattr(response, "context_data", None) or {}
    changelist = context.get("cl")
    if request.method == "GET" and response.status_code == 200 and changelist is not None:
        shown = list(changelist.result_list)
        if shown:
            record(
                staff_actor(request),
                AuditAction.TRANSCRIPT_VIEWED,
                target_type,
                [row.pk for row in shown],
                [owner_of(row) for row in shown],
                page="list",
            )
    return response


class AuditedReadsAdmin(admin.ModelAdmin):
    """A model admin whose object pages show content: each read is in the audit log, as
    ``audit_action`` on ``audit_target`` rows, whose owner ``audit_owner`` names; with
    ``audit_list_reads`` each page of its list too."""

    audit_action: AuditAction = AuditAction.TRANSCRIPT_VIEWED
    audit_target = ""
    audit_list_reads = False

    def audit_owner(self, obj: Any) -> str:
        return str(obj.owner_key)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        return record_page_view(
            request, response, self.audit_action, self.audit_target, self.audit_owner
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if not self.audit_list_reads:
            return response
        return record_list_view(request, response, self.audit_target, self.audit_owner)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "actor", "action", "target_type", "targets", "owner_key")
    list_filter = ("action", "target_type", ("at", admin.DateFieldListFilter))
    search_fields = ("actor", "owner_key")
    date_hierarchy = "at"
    readonly_fields = (
        "at",
        "actor",
        "action",
        "target_type",
        "target_count",
        "target_ids",
        "owner_key",
        "details",
    )
    fields = readonly_fields
    list_per_page = 100

    @admin.display(description="targets")
    def targets(self, obj: AuditEntry) -> str:
        ids = ", ".join(obj.target_ids)
        return f"{obj.target_count}: {Truncator(ids).chars(60)}" if obj.target_count else ""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
