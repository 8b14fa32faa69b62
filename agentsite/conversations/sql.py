"""Plain SQL for the few writes every run makes, built from the models' own field metadata.

A run claims its conversation, stores its items, writes its events and records its outcome:
a handful of one-row statements per turn, where compiling each through the ORM (a QuerySet,
a compiler, expressions) costs several times the statement itself (see ``make bench``). These
helpers write what ``Model.save`` / ``QuerySet.update`` would write — column names, defaults
and each field's own conversion to the database's form — with none of that machinery. They run
on the database thread, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connection, models
from django.db.backends.utils import CursorWrapper


def db_value(model: type[models.Model], field_name: str, value: Any) -> Any:
    """``value`` as the database driver wants it for ``model.<field_name>``."""
    return _concrete_field(model, field_name).get_db_prep_save(value, connection)


def _concrete_field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """The field named ``name``, which must hold a column (not a reverse relation)."""
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field), f"{model.__name__}.{name} is not a column"
    return field


def _quoted_column(field: models.Field[Any, Any]) -> str:
    """The field's column name, quoted; concrete fields always have one."""
    assert field.column is not None, f"{field} has no column"
    return connection.ops.quote_name(field.column)


def insert_row(
    cursor: CursorWrapper, instance: models.Model, *, ignore_conflicts: bool = False
) -> Any:
    """INSERT ``instance`` (every concrete field; an auto pk is left to the database).

    Returns the new row's pk, or None when ``ignore_conflicts`` and a unique constraint already
    holds such a row.
    """
    meta = instance._meta
    auto_pk = isinstance(meta.pk, models.AutoField)
    fields = [field for field in meta.concrete_fields if not (auto_pk and field.primary_key)]
    # pre_save as Model.save calls it for an insert: auto_now(_add) stamps, custom fields.
    values = [
        field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields
    ]
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    returning = ""
    if auto_pk and connection.features.can_return_columns_from_insert:
        returning = f" RETURNING {quote(meta.pk.column)}"
    table = quote(meta.db_table)
    cursor.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}){conflict}{returning}",
        values,
    )
    if returning:
        row = cursor.fetchone()
        return None if row is None else row[0]
    if cursor.rowcount != 1:
        return None
    return cursor.lastrowid if auto_pk else instance.pk


def update_row(
    cursor: CursorWrapper, model: type[models.Model], pk: object, changes: Mapping[str, object]
) -> int:
    """UPDATE the row ``pk`` of ``model`` with plain values; the number of rows changed.

    Fields with ``auto_now`` are stamped too, as ``Model.save`` stamps them (unlike
    ``QuerySet.update``): their ``pre_save`` runs on an unsaved instance carrying ``changes``.
    """
    meta = model._meta
    changes = dict(changes)
    stamped = [f for f in meta.concrete_fields if getattr(f, "auto_now", False)]
    if stamped:
        attnames = {name: _concrete_field(model, name).attname for name in changes}
        instance = model(**{attnames[name]: value for name, value in changes.items()})
        for field in stamped:
            if field.name not in changes:
                changes[field.name] = field.pre_save(instance, False)
    fields = [_concrete_field(model, name) for name in changes]
    assignments = ", ".join(f"{quote(_column(field))} = %s" for field in fields)
    values = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, changes.values(), strict=True)
    ]
    cursor.execute(
        f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s",
        [*values, meta.pk.get_db_prep_save(pk, connection)],
    )
    changed: int = cursor.rowcount
    return changed


def _column(field: models.Field[Any, Any]) -> str:
    """The field's column name; concrete fields always have one."""
    assert field.column is not None, f"{field} has no column"
    return field.column


def quote(name: str) -> str:
    """A table or column name quoted for the database (``"name"``)."""
    return connection.ops.quote_name(name)


class Columns:
    """A model's quoted table and column names, from its metadata, for hand-built SQL:
    ``Columns(Conversation).active_run`` is ``"active_run"`` (a ForeignKey's name gives its
    ``_id`` column), ``.table`` the table, ``.pk`` the primary key's column."""

    def __init__(self, model: type[models.Model]) -> None:
        meta = model._meta
        self._names = {field.name: quote(field.column) for field in meta.concrete_fields}
        self._names["pk"] = quote(meta.pk.column)
        self.table = quote(meta.db_table)

    def __getattr__(self, name: str) -> str:
        try:
            return self._names[name]
        except KeyError:
            raise AttributeError(name) from None
