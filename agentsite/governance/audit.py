"""Recording staff actions in the audit log (``AuditEntry``): the one way an entry is written.

Every staff action on content calls ``record``: the admin's conversation, item and report
pages (viewed), its JSON exports, purges and deletes, approval decisions, legal holds, and the
per-owner export and erase; ``manage.py purge_sessions``, ``export_owner_data`` and
``erase_owner_data`` too. An entry names rows by id, never by content. Synchronous, as all its
callers are (admin views, commands); async code would call it through
``agentsite.conversations.dbthread.in_database_thread``.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest

from agentsite.governance.audit_models import AuditAction, AuditEntry

# Ids kept per entry: a purge by filter may delete thousands; the count says how many.
AUDIT_MAX_IDS = 1000


def staff_actor(request: HttpRequest) -> str:
    """The admin user behind a request, as approvals name them too (``staff:<username>``)."""
    return f"staff:{request.user.get_username()}"


def command_actor() -> str:
    """Who ran a ``manage.py`` command: the operating-system user (``cli:<name>``)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no such user in the password database (some containers)
        return "cli"


def record(
    actor: str,
    action: AuditAction,
    target_type: str,
    target_ids: Iterable[Any] = (),
    owners: Iterable[str] = (),
    **details: Any,
) -> AuditEntry:
    """Write one entry: ``actor`` did ``action`` to the ``target_type`` rows ``target_ids``,
    belonging to ``owners``. ``details`` are JSON-ready extras (counts, a filter, a reason)."""
    ids = [str(target_id) for target_id in target_ids]
    distinct_owners = sorted(set(owners))
    if len(distinct_owners) > 1:
        details["owners"] = distinct_owners[:AUDIT_MAX_IDS]
    return AuditEntry.objects.create(
        actor=actor,
        action=action,
        target_type=target_type,
        target_ids=ids[:AUDIT_MAX_IDS],
        target_count=len(ids),
        owner_key=distinct_owners[0] if len(distinct_owners) == 1 else "",
        details=details,
    )
