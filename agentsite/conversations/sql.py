"""Plain SQL for the few writes every run makes, built from the models' own field metadata.

A run claims its conversation, stores its items, writes its events and records its outcome:
a handful of one-row statements per turn, where compiling each through the ORM (a QuerySet,
a compiler, expressions) costs several times the statement itself (see ``make bench``). These
helpers write what ``Model.save`` / ``QuerySet.update`` would write — column names, defaults
and each field's own conversion to the database's form — with none of that machinery. They run
on the database thread, inside the caller's transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models


def db_value(model: type[models.Model], field_name: str, value: Any) -> Any:
    """``value`` as the database driver wants it for ``model.<field_name>``."""
    return model._meta.get_field(field_name).get_db_prep_save(value, connection)


def insert_row(cursor: Any, instance: models.Model, *, ignore_conflicts: bool = False) -> Any:
    """INSERT ``instance`` (every concrete field; an auto pk is left to the database).

    Returns the new row's pk, or None when ``ignore_conflicts`` and a unique constraint already
    holds such a row.
    """
    meta = instance._meta
    auto_pk = isinstance(meta.pk, models.AutoField)
    fields = [field for field in meta.concrete_fields if not (auto_pk and field.primary_key)]
    values = [
        field.get_db_prep_save(getattr(instance, field.attname), connection) for field in fields
    ]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    returning = ""
    if auto_pk and connection.features.can_return_columns_from_insert:
        returning = f" RETURNING {connection.ops.quote_name(meta.pk.column)}"
    cursor.execute(
        f"INSERT INTO {meta.db_table} ({columns}) VALUES ({placeholders}){conflict}{returning}",
        values,
    )
    if returning:
        row = cursor.fetchone()
        return None if row is None else row[0]
    if cursor.rowcount != 1:
        return None
    return cursor.lastrowid if auto_pk else instance.pk


def update_row(cursor: Any, model: type[models.Model], pk: Any, changes: dict[str, Any]) -> int:
    """UPDATE the row ``pk`` of ``model`` with plain values; the number of rows changed."""
    meta = model._meta
    fields = [meta.get_field(name) for name in changes]
    assignments = ", ".join(f"{connection.ops.quote_name(field.column)} = %s" for field in fields)
    values = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, changes.values(), strict=True)
    ]
    cursor.execute(
        f"UPDATE {meta.db_table} SET {assignments} WHERE {meta.pk.column} = %s",
        [*values, meta.pk.get_db_prep_save(pk, connection)],
    )
    return cursor.rowcount
