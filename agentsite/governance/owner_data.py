"""Data-subject requests: everything stored for one owner, exported as one JSON bundle or erased.

An owner is named as the ledger shows it (``agentsite.web.owners``): ``key:<id>`` (an API key),
``user:<id>`` (a logged-in user), ``browser:<id>`` (a marked browser), ``anonymous`` (the
shared namespace) or ``cli`` (``manage.py ask``'s). ``parse_owner`` checks the form; the
admin's owner page and the ``export_owner_data`` / ``erase_owner_data`` commands call it
before anything else.

The export holds the owner's conversations with their items, the run ledger rows with the events
still kept (database batches, Redis streams), the research reports and the tool approvals.

The erase deletes the owner's conversations through ``delete_conversations`` (items, event logs,
paused states, the approvals' arguments; never one under legal hold or one a run holds), then
does the same for the owner's runs outside any conversation (research runs, runs whose
conversation was deleted earlier), and deletes the owner's research reports. What stays is
metadata (DESIGN.md §10): ledger rows (agent, session id, model, status, tokens, timings; the
error text replaced), approval rows (tool, decision, who, when; arguments and reason replaced)
and the audit log, which names rows by id only.

Both record themselves in the audit log, with the ``actor`` the caller names.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from agentsite.conversations.retention import delete_conversations, runs_content_deleted
from agentsite.governance.audit import AUDIT_MAX_IDS, record
from agentsite.governance.audit_models import AuditAction
from agentsite.governance.moderation import export_conversation
from agentsite.models import ANONYMOUS_OWNER, Conversation, Run, RunStatus, ToolApproval
from agentsite.runs.eventlog import stored_run_events

# The owner keys ``agentsite.web.owners`` hands out; a browser id is ``token_urlsafe(18)``.
OWNER_FORMS = "key:<id>, user:<id>, browser:<id>, anonymous or cli"
# The namespaces with a fixed name: keyless HTTP clients', and ``manage.py ask``'s (CLI_OWNER).
NAMED_OWNERS = frozenset({ANONYMOUS_OWNER, "cli"})
OWNER_KEY = re.compile(r"^(?:key:[1-9]\d{0,18}|user:[1-9]\d{0,18}|browser:[A-Za-z0-9_-]{1,64})$")
ERROR_ERASED = "(error details removed when the owner's data was erased)"
REASON_ERASED = "(removed when the owner's data was erased)"
# Ledger fields left out of the export: the SDK's internal state of a paused run (the
# conversation's items are exported as such).
EXPORT_EXCLUDED_RUN_FIELDS = frozenset({"paused_state"})
CHUNK = 500


def parse_owner(text: str) -> str:
    """``text`` as an owner key, or ``ValueError`` saying which forms are accepted."""
    owner = text.strip()
    if owner in NAMED_OWNERS or OWNER_KEY.match(owner):
        return owner
    raise ValueError(f"{text!r} is not an owner key: use {OWNER_FORMS}")


@dataclass(frozen=True)
class EraseResult:
    conversations: int
    items: int
    # Ledger rows left with metadata only.
    runs: int
    reports: int
    # Conversations kept because a run holds them, and research runs still going.
    skipped_live: int
    skipped_held: int

    def summary(self, dry_run: bool = False) -> str:
        """What was (``dry_run``: would be) erased and what was kept, as staff read it."""
        verb = "Would erase" if dry_run else "Erased"
        text = (
            f"{verb} {self.conversations} conversation(s) with {self.items} item(s), the content "
            f"of {self.runs} run(s) and {self.reports} research report(s)."
        )
        if self.skipped_held:
            text += f" Kept {self.skipped_held} conversation(s) under legal hold."
        if self.skipped_live:
            text += f" Kept {self.skipped_live} conversation(s) or run(s) in progress."
        return text


def export_owner_data(owner: str, actor: str) -> dict[str, Any]:
    """The owner's bundle, JSON-ready; recorded in the audit log as exported by ``actor``."""
    conversations = Conversation.objects.filter(owner_key=owner).order_by("created_at", "pk")
    runs = list(Run.objects.filter(owner_key=owner).order_by("started_at", "pk"))
    events = stored_run_events([run.pk for run in runs])
    approvals = ToolApproval.objects.filter(run__owner_key=owner).order_by("requested_at", "pk")
    reports = _reports(owner).order_by("created_at", "pk")
    bundle = {
        "owner": owner,
        "exported_at": timezone.now().isoformat(),
        "conversations": [export_conversation(conversation) for conversation in conversations],
        "runs": [
            {**_fields(run, EXPORT_EXCLUDED_RUN_FIELDS), "events": events[run.pk]} for run in runs
        ],
        "reports": [_fields(report) for report in reports],
        "tool_approvals": [_fields(approval) for approval in approvals],
    }
    record(
        actor,
        AuditAction.OWNER_EXPORTED,
        "owner",
        [owner],
        [owner],
        **{name: len(bundle[name]) for name in ("conversations", "runs", "reports")},
    )
    return bundle


def erase_owner_data(owner: str, actor: str, *, dry_run: bool = False) -> EraseResult:
    """Erase what is stored for ``owner`` (see the module's docstring), in one transaction; a
    failure anywhere (Redis included) erases nothing. ``dry_run`` counts what would go."""
    with transaction.atomic():
        now = timezone.now()
        reports = _reports(owner).exclude(pk__in=_live_runs(owner, now).values("pk"))
        counts = {"reports": reports.count(), "runs": _erasable_runs(owner, now).count()}
        purge = delete_conversations(Conversation.objects.filter(owner_key=owner), dry_run=dry_run)
        if not dry_run:
            _scrub_runs(list(_erasable_runs(owner, now).values_list("pk", flat=True)))
            reports.delete()  # research's post_delete receiver forgets each report's events
        result = EraseResult(
            conversations=purge.conversations,
            items=purge.items,
            runs=counts["runs"],
            reports=counts["reports"],
            skipped_live=purge.skipped_live + _live_runs(owner, now).count(),
            skipped_held=purge.skipped_held,
        )
        if not dry_run:
            record(
                actor,
                AuditAction.OWNER_ERASED,
                "owner",
                [owner],
                [owner],
                conversation_ids=[pk for pk, _ in purge.deleted][:AUDIT_MAX_IDS],
                **{name: getattr(result, name) for name in EraseResult.__dataclass_fields__},
            )
    return result


def _erasable_runs(owner: str, now: datetime) -> QuerySet[Run]:
    """The owner's ledger rows whose content goes: not those of a conversation under legal hold
    or held by a run, nor a run still going outside a conversation."""
    return (
        Run.objects.filter(owner_key=owner)
        .exclude(conversation__legal_hold=True)
        .exclude(conversation__in=Conversation.objects.leased(now))
        .exclude(pk__in=_live_runs(owner, now).values("pk"))
    )


def _live_runs(owner: str, now: datetime) -> QuerySet[Run]:
    """The owner's runs going on outside a conversation (research): left alone."""
    return Run.objects.filter(
        owner_key=owner,
        conversation__isnull=True,
        status=RunStatus.RUNNING,
        lease_until__gte=now,
    )


def _scrub_runs(run_ids: list[uuid.UUID]) -> None:
    """What a conversation's deletion does to its runs (``runs_content_deleted``: events,
    paused state, the approvals' arguments), for these runs, and their error texts and the
    approvals' reasons."""
    for start in range(0, len(run_ids), CHUNK):
        chunk = run_ids[start : start + CHUNK]
        Run.objects.filter(pk__in=chunk).exclude(error="").update(error=ERROR_ERASED)
        approvals = ToolApproval.objects.filter(run_id__in=chunk).exclude(reason="")
        approvals.update(reason=REASON_ERASED)
    runs_content_deleted.send(sender=Run, run_ids=run_ids)


def _reports(owner: str) -> QuerySet[Any]:
    """The owner's research reports; none when the research app is not installed (it is an
    agent app of its own, which this layer does not import)."""
    if not apps.is_installed("research"):
        return Run.objects.none()
    report: type[models.Model] = apps.get_model("research", "Report")
    return report._default_manager.filter(owner_key=owner)


def _fields(row: models.Model, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every column of ``row`` as JSON values (JSON columns as they are)."""
    return {
        field.attname: _plain(getattr(row, field.attname))
        for field in row._meta.concrete_fields
        if field.name not in exclude
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
