"""``agentsite.conversations.sql``: plain-SQL writes read back through the ORM exactly as ``save``
and
``update`` would have written them (SQLite and PostgreSQL passes)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from agentsite.conversations.sql import insert_row, update_row
from agentsite.models import Conversation, Run, RunEventBatch, RunStatus

pytestmark = pytest.mark.django_db


def comparable(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.fields}


def test_insert_row_writes_what_save_writes_defaults_included():
    lease = timezone.now() + timedelta(seconds=30)
    saved = Conversation(agent="chat", session_id="orm", active_run=uuid.uuid4())
    saved.save()
    plain = Conversation(
        agent="chat",
        session_id="sql",
        active_run=saved.active_run,
        run_lease_until=lease,
        created_at=saved.created_at,
        updated_at=saved.updated_at,
    )
    with connection.cursor() as cursor:
        pk = insert_row(cursor, plain)
    assert isinstance(pk, int) and pk != saved.pk
    stored = Conversation.objects.get(pk=pk)
    expected = comparable(saved) | {"id": pk, "session_id": "sql", "run_lease_until": lease}
    assert comparable(stored) == expected


def test_insert_row_with_a_uuid_pk_and_a_foreign_key():
    conversation = Conversation.objects.create(agent="chat", session_id="s")
    run = Run(id=uuid.uuid4(), agent="chat", conversation_id=conversation.pk, model="m")
    with connection.cursor() as cursor:
        assert insert_row(cursor, run) == run.id
    stored = Run.objects.get(pk=run.id)
    assert (stored.conversation_id, stored.status, stored.model) == (
        conversation.pk,
        RunStatus.RUNNING,
        "m",
    )


def test_insert_row_ignoring_conflicts_keeps_the_first_row():
    run = Run.objects.create(agent="chat")
    first = RunEventBatch(run_id=run.id, first_seq=1, last_seq=2, data="[1, 2]")
    again = RunEventBatch(run_id=run.id, first_seq=1, last_seq=2, data="[changed]")
    with connection.cursor() as cursor:
        assert insert_row(cursor, first, ignore_conflicts=True) is not None
        assert insert_row(cursor, again, ignore_conflicts=True) is None
    assert list(RunEventBatch.objects.values_list("data", flat=True)) == ["[1, 2]"]


def test_update_row_converts_each_value_for_its_field():
    run = Run.objects.create(agent="chat", lease_until=timezone.now())
    other = Run.objects.create(agent="chat")
    finished = timezone.now()
    with connection.cursor() as cursor:
        changed = update_row(
            cursor,
            Run,
            run.id,
            {
                "status": RunStatus.COMPLETED,
                "finished_at": finished,
                "lease_until": None,
                "total_tokens": 7,
                "error": "",
            },
        )
        missing = update_row(cursor, Run, uuid.uuid4(), {"status": RunStatus.FAILED})
    assert (changed, missing) == (1, 0)
    run.refresh_from_db()
    assert (run.status, run.finished_at, run.lease_until, run.total_tokens) == (
        RunStatus.COMPLETED,
        finished,
        None,
        7,
    )
    other.refresh_from_db()
    assert other.status == RunStatus.RUNNING


def test_statements_quote_table_and_column_names_from_the_model_metadata():
    from django.test.utils import CaptureQueriesContext

    run = Run(id=uuid.uuid4(), agent="chat", model="m")
    with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
        insert_row(cursor, run)
        update_row(cursor, Run, run.id, {"status": RunStatus.COMPLETED})
    insert, update = (query["sql"] for query in queries.captured_queries)
    table = connection.ops.quote_name(Run._meta.db_table)
    assert insert.startswith(f"INSERT INTO {table} (")
    assert connection.ops.quote_name("status") in insert
    assert update.startswith(f"UPDATE {table} SET {connection.ops.quote_name('status')} = ")
    assert f" WHERE {connection.ops.quote_name('id')} = " in update


def test_pre_save_is_honoured_as_save_honours_it(monkeypatch):
    """A field whose ``pre_save`` sets its value (``auto_now``) gets it on insert and update,
    as ``Model.save`` gives it, not the value the instance carried."""
    field = Conversation._meta.get_field("updated_at")
    monkeypatch.setattr(field, "auto_now", True)
    long_ago = timezone.now() - timedelta(days=365)
    conversation = Conversation(
        agent="chat", session_id="stamped", created_at=long_ago, updated_at=long_ago
    )
    before = timezone.now()
    with connection.cursor() as cursor:
        pk = insert_row(cursor, conversation)
    inserted = Conversation.objects.get(pk=pk)
    assert inserted.created_at == long_ago
    assert inserted.updated_at >= before

    Conversation.objects.filter(pk=pk).update(updated_at=long_ago)
    before = timezone.now()
    with connection.cursor() as cursor:
        update_row(cursor, Conversation, pk, {"title": "renamed"})
    updated = Conversation.objects.get(pk=pk)
    assert (updated.title, updated.updated_at >= before) == ("renamed", True)
