"""The admin's owner data page: export or erase everything of one owner (a data-subject request).

Served under the conversations' admin (``/admin/agentsite/conversation/owner-data/``), opened
from the list's action "Export or erase the data of the selected conversations' owner" or
directly. Exporting needs the permission to view conversations, erasing the permission to
delete them; the erase shows what it would do and asks again first. Both go through
``agentsite.governance.owner_data`` and so are recorded in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from agentsite.governance.audit import staff_actor
from agentsite.governance.owner_data import (
    OWNER_FORMS,
    erase_owner_data,
    export_owner_data,
    parse_owner,
)

TEMPLATE = "admin/agentsite/conversation/owner_data.html"


def owner_data_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    download: Callable[[Any, str], HttpResponse],
) -> HttpResponse:
    """GET: the form (``?owner=`` fills it in). POST ``do=export``: the bundle as a download.
    POST ``do=erase``: the preview and a second question; with ``confirm=yes``, the erase."""
    if not model_admin.has_view_permission(request):
        return HttpResponse(status=403)
    raw = (request.POST if request.method == "POST" else request.GET).get("owner", "")
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "title": "Export or erase an owner's data",
        "opts": model_admin.model._meta,
        "owner": raw,
        "forms": OWNER_FORMS,
        "may_erase": model_admin.has_delete_permission(request),
    }
    if request.method != "POST":
        return TemplateResponse(request, TEMPLATE, context)
    try:
        owner = parse_owner(raw)
    except ValueError as exc:
        return TemplateResponse(request, TEMPLATE, {**context, "error": str(exc)}, status=400)
    actor = staff_actor(request)
    action = request.POST.get("do")
    if action == "export":
        bundle = export_owner_data(owner, actor)
        return download(bundle, f"owner-{owner.replace(':', '-')}.json")
    if action != "erase" or not context["may_erase"]:
        return HttpResponse(status=403 if action == "erase" else 400)
    if request.POST.get("confirm") != "yes":
        preview = erase_owner_data(owner, actor, dry_run=True)
        context.update(owner=owner, preview=preview, summary=preview.summary(dry_run=True))
        return TemplateResponse(request, TEMPLATE, context)
    result = erase_owner_data(owner, actor)
    model_admin.message_user(request, result.summary(), messages.SUCCESS)
    return HttpResponseRedirect(reverse("admin:agentsite_conversation_changelist"))
