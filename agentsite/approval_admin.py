"""The approval inbox: tool calls waiting for a decision, for staff to approve or reject.

Decisions go through the same service as the API's (``agentsite.runs.approvals``), recorded as
taken by ``staff:<username>``; the run resumes in the process serving the admin.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.timesince import timesince

from agentsite.errors import AgentSiteError
from agentsite.governance.audit import record, staff_actor
from agentsite.governance.audit_admin import AuditedReadsAdmin
from agentsite.governance.audit_models import AuditAction
from agentsite.models import Decision, Run, ToolApproval
from agentsite.runs.approvals import ApprovalDecision, decide_run

# How long an admin action waits for the runs it resumed to finish (or pause again) before it
# answers; under daphne they go on after that, but a one-off event loop (a WSGI server, the
# test client) would end with the request.
ADMIN_WAIT_SECONDS = 60.0


class PendingFirst(admin.SimpleListFilter):
    """The inbox opens on what waits for someone; decided calls are one click away."""

    title = "decision"
    parameter_name = "decision"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("pending", "pending"), *((d.value, d.label) for d in Decision if d.value)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "all":
            return queryset
        return queryset.filter(decision="" if value in (None, "pending") else value)

    def choices(self, changelist: Any) -> Any:
        value = self.value() or "pending"
        yield {
            "selected": value == "all",
            "query_string": changelist.get_query_string({self.parameter_name: "all"}),
            "display": "All",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


@admin.register(ToolApproval)
class ToolApprovalAdmin(AuditedReadsAdmin):
    # The inbox shows the calls' arguments: its pages are reads too.
    audit_target = "approval"
    audit_list_reads = True
    list_display = (
        "tool_name",
        "agent",
        "owner",
        "call",
        "age",
        "state",
        "decided_by",
        "decided_at",
        "reason",
    )
    list_filter = (PendingFirst, "tool_name", "run__agent")
    search_fields = ("tool_name", "run__owner_key", "decided_by", "run__id")
    list_select_related = ("run",)
    ordering = ("requested_at",)
    actions = ("approve_selected", "reject_selected")
    readonly_fields = (
        "run",
        "tool_name",
        "arguments",
        "call_id",
        "requested_at",
        "expires_at",
        "decision",
        "reason",
        "decided_by",
        "decided_at",
        "always",
    )
    fields = readonly_fields

    @admin.display(description="agent", ordering="run__agent")
    def agent(self, obj: ToolApproval) -> str:
        return obj.run.agent

    @admin.display(description="owner", ordering="run__owner_key")
    def owner(self, obj: ToolApproval) -> str:
        return obj.run.owner_key

    def audit_owner(self, obj: ToolApproval) -> str:
        return obj.run.owner_key

    @admin.display(description="arguments")
    def call(self, obj: ToolApproval) -> str:
        return Truncator(obj.arguments).chars(200)

    @admin.display(description="age", ordering="requested_at")
    def age(self, obj: ToolApproval) -> str:
        return timesince(obj.requested_at, timezone.now())

    @admin.display(description="decision", ordering="decision")
    def state(self, obj: ToolApproval) -> str:
        return obj.get_decision_display()

    @admin.action(description="Approve selected tool calls")
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[ToolApproval]) -> None:
        self.decide(request, queryset, approve=True, reason="")

    @admin.action(description="Reject selected tool calls…")
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[ToolApproval]) -> Any:
        """Asks for the reason first: the model is told it."""
        if "reason" not in request.POST:
            context = {
                **self.admin_site.each_context(request),
                "title": "Reject tool calls",
                "opts": self.model._meta,
                "approvals": queryset.select_related("run"),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(
                request, "admin/agentsite/toolapproval/reject_reason.html", context
            )
        self.decide(request, queryset, approve=False, reason=request.POST["reason"].strip())
        return None

    def decide(
        self, request: HttpRequest, queryset: QuerySet[ToolApproval], approve: bool, reason: str
    ) -> None:
        by = staff_actor(request)
        per_run: dict[Any, list[ApprovalDecision]] = defaultdict(list)
        for approval in queryset.filter(decision=Decision.PENDING):
            per_run[approval.run_id].append(ApprovalDecision(approval.id, approve, reason))
        skipped = queryset.exclude(decision=Decision.PENDING).count()
        failures = async_to_sync(_decide_and_wait)(per_run, by)
        asked = [decision.approval_id for decisions in per_run.values() for decision in decisions]
        taken = ToolApproval.objects.filter(pk__in=asked, decided_by=by).select_related("run")
        if taken:
            record(
                by,
                AuditAction.APPROVAL_DECIDED,
                "approval",
                [approval.pk for approval in taken],
                [approval.run.owner_key for approval in taken],
                decision="approved" if approve else "rejected",
            )
        decided = sum(len(decisions) for decisions in per_run.values()) - len(failures)
        verb = "Approved" if approve else "Rejected"
        self.message_user(request, f"{verb} {decided} tool call(s).", messages.SUCCESS)
        for failure in failures:
            self.message_user(request, failure, messages.WARNING)
        if skipped:
            self.message_user(request, f"{skipped} were decided already.", messages.WARNING)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deciding is an action (approve/reject); the rows themselves are a record.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


async def _decide_and_wait(per_run: dict[Any, list[ApprovalDecision]], by: str) -> list[str]:
    """Decide run by run; wait for the runs that resumed. Messages for what failed."""
    failures: list[str] = []
    resumed = []
    for run_id, decisions in per_run.items():
        run = await Run.objects.aget(pk=run_id)
        try:
            _, live = await decide_run(run, decisions, by)
        except AgentSiteError as error:
            failures.append(f"Run {run_id}: {error.message}")
            continue
        if live is not None:
            resumed.append(live.done.wait())
    if resumed:
        await asyncio.wait_for(asyncio.gather(*resumed), ADMIN_WAIT_SECONDS)
    return failures
