"""``DjangoSession``: the Agents SDK ``Session`` protocol over the Django ORM.

Semantics follow the SDK's ``SQLiteSession`` item for item
(tests/agentsite/conversations/test_session_contract.py
and the ports of the SDK's own session tests, tests/agentsite/test_sdk_*.py, run the same cases
against both). The history read and each mutation are one function on the database thread (one
transaction for a mutation), because Django transactions are synchronous. A mutation that started
finishes even if the awaiting task is cancelled, and the task sees its cancellation only once the
transaction has ended (``_settled``).

A conversation may have branches (``agentsite.conversations.branches``): every read and write
here is of its active branch, so the model sees that branch only and a run appends to it.

Deliberate differences from ``SQLiteSession`` (README, "Session semantics"): ``clear_session``
empties the history but keeps the conversation row (title, created time, token totals, linked
runs), because the SDK's compaction wrapper rewrites history as clear + add;
``delete_conversation`` removes the row too.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NamedTuple, TypeVar

from agents.items import TResponseInputItem
from agents.memory.session_settings import (
    SessionSettings,
    coerce_session_settings,
    resolve_session_limit,
)
from agents.run_context import RunContextWrapper
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from agentsite.conversations.dbthread import in_database_thread
from agentsite.conversations.items import message_text
from agentsite.conversations.retention import delete_conversation
from agentsite.conversations.sql import Columns
from agentsite.errors import LegalHold
from agentsite.models import ANONYMOUS_OWNER, Conversation, ConversationItem, ConversationQuerySet

TITLE_LENGTH = 80
CONVERSATIONS = Columns(Conversation)
ITEMS = Columns(ConversationItem)
ITEM_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s)"
# Rows per INSERT: 8 parameters each, well under SQLite's 32,766 and PostgreSQL's 65,535.
INSERT_CHUNK = 500

T = TypeVar("T")


class HistoryPage(NamedTuple):
    """One page of a conversation: its items oldest first, how many it holds in all, and the
    ``before`` cursor of the page before this one (None: this page starts the history)."""

    items: list[TResponseInputItem]
    total: int
    next_before: int | None
    # When each item was stored (ISO 8601), in the items' order: the UI's message times.
    created_at: tuple[str, ...] = ()
    # Each item's position (what a fork and feedback on a reply name), in the items' order.
    positions: tuple[int, ...] = ()
    # The branch read (the active one), how many the conversation has, and how many user
    # turns of that branch come before this page (agentsite.conversations.branches).
    branch: int = 1
    branch_count: int = 1
    turns_before: int = 0
    conversation_id: int | None = None


class SessionOwnerMismatch(PermissionError):
    """A run context names a different owner than the session it is writing to."""


class DjangoSession:
    """Conversation history of one (owner, agent, session id), stored in Django models."""

    def __init__(
        self,
        session_id: str,
        *,
        agent: str,
        owner: str = ANONYMOUS_OWNER,
        session_settings: SessionSettings | dict[str, Any] | None = None,
        conversation_id: int | None = None,
        for_model: bool = False,
    ) -> None:
        self.session_id = session_id
        self.agent = agent
        self.owner = owner
        # A run's session: the history it reads goes to the model's client, which cannot
        # encode lone surrogates (stored before input was checked for them); they are read
        # as U+FFFD there, and kept as stored everywhere else.
        self.for_model = for_model
        # The conversation row's pk, once known (a run passes the one it claimed): reads and
        # writes then go straight to it. A conversation cannot be deleted while a run holds
        # it, and delete_conversation forgets the pk.
        self._conversation_id = conversation_id
        # Typed as the SDK's Session protocol declares it, which DjangoSession implements.
        self.session_settings: SessionSettings | None = (
            coerce_session_settings(session_settings)
            if session_settings is not None
            else SessionSettings()
        )

    # --- the Session protocol -------------------------------------------------------------

    async def get_items(
        self, limit: int | None = None, *, wrapper: RunContextWrapper[Any] | None = None
    ) -> list[TResponseInputItem]:
        """The history, oldest first: all of it, or the newest ``limit`` items.

        A stored row that is not valid JSON is skipped and does not count toward the limit: the
        window grows until it holds ``limit`` readable items or the whole history, as in
        ``SQLiteSession``. A negative limit means no limit (SQLite's ``LIMIT -1``).
        """
        self._check_owner(wrapper)
        effective = resolve_session_limit(limit, self.session_settings)
        if effective == 0:
            return []
        if effective is None or effective < 0:
            return _decode_readable(await _read_items_in_thread(self, None), self.for_model)
        window = effective
        while True:
            rows = await _read_items_in_thread(self, window)
            items = _decode_readable(rows, self.for_model)
            if len(items) >= effective or len(rows) < window:
                return items[-effective:]
            window *= 2

    async def add_items(
        self, items: list[TResponseInputItem], *, wrapper: RunContextWrapper[Any] | None = None
    ) -> None:
        self._check_owner(wrapper)
        if not items:
            return
        encoded = [_encode(item) for item in items]
        await _settled(_add_items_in_thread(self, items, encoded))

    async def pop_item(
        self, *, wrapper: RunContextWrapper[Any] | None = None
    ) -> TResponseInputItem | None:
        """Remove and return the newest item; rows that are not valid JSON on the way are
        dropped (as ``SQLiteSession`` does), so the newest readable item comes back."""
        return await self.pop_item_with_validation(None, wrapper=wrapper)

    async def clear_session(self, *, wrapper: RunContextWrapper[Any] | None = None) -> None:
        """Delete every item of the conversation, keeping the conversation itself.

        The row keeps its id, title, created time, token totals and linked runs: the SDK's
        ``OpenAIResponsesCompactionSession`` replaces history by clear + add, and that must
        not turn one conversation into a new, untitled one. Positions carry on from where they
        were, so they stay unique and in order. ``delete_conversation`` removes the row too.
        """
        self._check_owner(wrapper)
        await _settled(sync_to_async(self._clear_in_transaction)())

    # --- helpers beyond the protocol ------------------------------------------------------

    async def pop_item_with_validation(
        self,
        validate: Callable[[TResponseInputItem], object] | None,
        *,
        wrapper: RunContextWrapper[Any] | None = None,
    ) -> TResponseInputItem | None:
        """``pop_item`` that removes the newest readable item only if ``validate(item)`` returns.

        ``validate`` runs on the database thread inside the transaction that holds the
        conversation's row lock. If it raises, nothing is removed (the item keeps its position)
        and the exception propagates: this is how ``agentsite.conversations.encrypted`` refuses to
        pop an item that the key in hand cannot authenticate, like the SDK's
        ``SQLiteSession._pop_item_with_validation``.
        """
        self._check_owner(wrapper)
        return await _settled(sync_to_async(self._pop_item_in_transaction)(validate))

    async def delete_conversation(self) -> None:
        """Delete the conversation and every copy of its content (``retention``, the one way
        a conversation is deleted); ``ConversationBusy`` while a run holds it."""
        self._conversation_id = None
        await _settled(delete_conversation(self.owner, self.agent, self.session_id))

    async def add_interrupted_reply(self, text: str) -> None:
        """Store the part of an assistant reply a client saw before its run was stopped.

        It is a plain assistant message, so the model sees it next turn; the row is marked
        ``interrupted`` for the admin and the UI.
        """
        item: TResponseInputItem = {"role": "assistant", "content": text}
        await _settled(_add_items_in_thread(self, [item], [_encode(item)], True))

    async def rewind_last_turn(self) -> TResponseInputItem | None:
        """Remove the last user message and everything after it (the answer to regenerate);
        return that user message, or None when there is none."""
        data = await _settled(sync_to_async(self._rewind_in_transaction)())
        return None if data is None else json.loads(data)

    async def get_conversation(self) -> Conversation | None:
        return await self._conversations().afirst()

    async def read_page(self, limit: int, before: int | None = None) -> HistoryPage:
        """The active branch's newest ``limit`` items before position ``before`` (all
        positions if None), oldest first, cut short at SESSION_PAGE_MAX_BYTES (one item at
        least): one bounded read however large the conversation is."""
        return await sync_to_async(self._read_page)(limit, before)

    # --- internals -----------------------------------------------------------------------

    def _conversations(self) -> ConversationQuerySet:
        return Conversation.objects.filter(
            owner_key=self.owner, agent=self.agent, session_id=self.session_id
        )

    def _check_owner(self, wrapper: RunContextWrapper[Any] | None) -> None:
        owner = getattr(getattr(wrapper, "context", None), "owner", None)
        if owner is not None and owner != self.owner:
            raise SessionOwnerMismatch(
                f"run context owner {owner!r} may not use a session of {self.owner!r}"
            )

    def _read_items(self, limit: int | None) -> list[str]:
        """The items' JSON, oldest first: all of them, or the newest ``limit`` (one thread hop
        for the conversation lookup and the read)."""
        if self._conversation_id is None:
            self._conversation_id = self._conversations().values_list("pk", flat=True).first()
            if self._conversation_id is None:
                return []
        # Plain SQL: this runs before every model call, and building the equivalent queryset
        # costs more than the query. One statement, served by the (conversation, branch,
        # position) index: the active branch's items only (what the model may see).
        where = (
            f"{ITEMS.conversation} = %s AND {ITEMS.branch} = (SELECT {CONVERSATIONS.active_branch}"
            f" FROM {CONVERSATIONS.table} WHERE {CONVERSATIONS.pk} = %s)"
        )
        with connection.cursor() as cursor:
            if limit is None or limit < 0:
                # SQLite's LIMIT treats a negative bound as "no limit"; SQLiteSession inherits it.
                cursor.execute(
                    f"SELECT {ITEMS.data} FROM {ITEMS.table} WHERE {where}"
                    f" ORDER BY {ITEMS.position}",
                    [self._conversation_id, self._conversation_id],
                )
                return [data for (data,) in cursor.fetchall()]
            cursor.execute(
                f"SELECT {ITEMS.data} FROM {ITEMS.table} WHERE {where}"
                f" ORDER BY {ITEMS.position} DESC LIMIT %s",
                [self._conversation_id, self._conversation_id, limit],
            )
            return [data for (data,) in reversed(cursor.fetchall())]

    def _add_items_in_transaction(
        self, items: list[TResponseInputItem], encoded: list[str], interrupted: bool = False
    ) -> None:
        rows = [
            (_field(item, "role")[:32], (_field(item, "type") or "message")[:64], data)
            for item, data in zip(items, encoded, strict=True)
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            locked = self._lock_conversation_row(cursor)
            if locked is None:
                conversation, _ = Conversation.objects.get_or_create(
                    owner_key=self.owner, agent=self.agent, session_id=self.session_id
                )
                self._conversation_id = conversation.pk
                locked = self._lock_conversation_row(cursor)
                assert locked is not None, "a conversation created in this transaction"
            start, title, branch = locked
            assert self._conversation_id is not None, "known once its row is locked"
            _append_rows(
                cursor,
                (self._conversation_id, branch),
                start,
                rows,
                interrupted,
                "" if title else _first_user_text(items),
            )

    def _lock_conversation_row(self, cursor: CursorWrapper) -> tuple[int, str, int] | None:
        """``(next_position, title, active_branch)`` of the conversation, its row locked until
        the end of the transaction (SQLite: the IMMEDIATE transaction already holds the write
        lock); None if its pk is unknown or the row is gone."""
        if self._conversation_id is None:
            return None
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        c = CONVERSATIONS
        cursor.execute(
            f"SELECT {c.next_position}, {c.title}, {c.active_branch} FROM {c.table}"
            f" WHERE {c.pk} = %s{lock}",
            [self._conversation_id],
        )
        row: tuple[int, str, int] | None = cursor.fetchone()
        return row

    def _read_page(self, limit: int, before: int | None) -> HistoryPage:
        conversation = (
            self._conversations()
            .values("pk", "item_count", "active_branch", "branch_count")
            .first()
        )
        if conversation is None:
            return HistoryPage([], 0, None)
        branch_items = ConversationItem.objects.filter(
            conversation_id=conversation["pk"], branch=conversation["active_branch"]
        )
        rows = branch_items if before is None else branch_items.filter(position__lt=before)
        newest = list(
            rows.order_by("-position").values_list("position", "data", "created_at")[: limit + 1]
        )
        more = len(newest) > limit
        kept: list[tuple[int, str, Any]] = []
        size = 0
        for position, data, created_at in newest[:limit]:
            size += utf8_size(data)
            if kept and size > settings.SESSION_PAGE_MAX_BYTES:
                more = True
                break
            kept.append((position, data, created_at))
        kept.reverse()
        total, turns_before = conversation["item_count"], 0
        if conversation["branch_count"] > 1:
            # Only a forked conversation pays for these counts: it holds other branches' items,
            # and its user turns are what its forks are numbered by.
            total = branch_items.count()
            if kept:
                turns_before = branch_items.filter(role="user", position__lt=kept[0][0]).count()
        readable = _decode_rows(kept)
        return HistoryPage(
            [item for _, _, item in readable],
            total,
            kept[0][0] if more and kept else None,
            tuple(created_at for _, created_at, _ in readable),
            tuple(position for position, _, _ in readable),
            conversation["active_branch"],
            conversation["branch_count"],
            turns_before,
            conversation["pk"],
        )

    def _rewind_in_transaction(self) -> str | None:
        with transaction.atomic():
            conversation = self._conversations().select_for_update().first()
            if conversation is None:
                return None
            if conversation.legal_hold:
                raise LegalHold(LegalHold.ITEMS_KEPT)
            branch = conversation.items.filter(branch=conversation.active_branch)
            last_user = branch.filter(role="user").order_by("-position").first()
            if last_user is None:
                return None
            tail = branch.filter(position__gte=last_user.position)
            size = sum(utf8_size(data) for data in tail.values_list("data", flat=True))
            removed, _ = tail.delete()
            Conversation.objects.filter(pk=conversation.pk).update(
                item_count=F("item_count") - removed,
                stored_bytes=Greatest(F("stored_bytes") - size, 0),
                updated_at=timezone.now(),
            )
            return last_user.data

    def _lock_active_branch(self) -> tuple[int, int] | None:
        """Lock the conversation row (in the caller's transaction) to remove items of its
        active branch: its pk and that branch; None if it has none. ``LegalHold`` if it is
        held: a hold keeps every item."""
        row = (
            self._conversations()
            .select_for_update()
            .values_list("pk", "active_branch", "legal_hold")
            .first()
        )
        if row is None:
            return None
        conversation_id, branch, held = row
        if held:
            raise LegalHold(LegalHold.ITEMS_KEPT)
        return conversation_id, branch

    def _pop_item_in_transaction(
        self, validate: Callable[[TResponseInputItem], object] | None
    ) -> TResponseInputItem | None:
        """Peek at the newest row, then delete it: unreadable rows are dropped on the way,
        and a readable one only once ``validate`` accepted it. A rejection still commits the
        unreadable rows dropped before it, as ``SQLiteSession`` does, and is then raised."""
        rejection: Exception | None = None
        popped: TResponseInputItem | None = None
        with transaction.atomic():
            locked = self._lock_active_branch()
            if locked is None:
                return None
            conversation_id, branch = locked
            items = ConversationItem.objects.filter(conversation_id=conversation_id, branch=branch)
            removed, freed = 0, 0
            while (
                newest := items.order_by("-position").values_list("pk", "data").first()
            ) is not None:
                pk, data = newest
                try:
                    item = json.loads(data)
                except (json.JSONDecodeError, TypeError):
                    items.filter(pk=pk).delete()
                    removed, freed = removed + 1, freed + utf8_size(str(data))
                    continue
                if validate is not None:
                    try:
                        validate(item)
                    except Exception as error:
                        rejection = error
                        break
                items.filter(pk=pk).delete()
                removed, freed = removed + 1, freed + utf8_size(data)
                popped = item
                break
            if removed:
                Conversation.objects.filter(pk=conversation_id).update(
                    item_count=F("item_count") - removed,
                    stored_bytes=Greatest(F("stored_bytes") - freed, 0),
                    updated_at=timezone.now(),
                )
        if rejection is not None:
            raise rejection
        return popped

    def _clear_in_transaction(self) -> None:
        """Empty the active branch; the conversation's other branches keep their items."""
        with transaction.atomic():
            locked = self._lock_active_branch()
            if locked is None:
                return
            conversation_id, branch = locked
            self._conversation_id = conversation_id
            items = ConversationItem.objects.filter(conversation_id=conversation_id, branch=branch)
            freed = sum(utf8_size(data) for data in items.values_list("data", flat=True).iterator())
            removed, _ = items.delete()
            Conversation.objects.filter(pk=conversation_id).update(
                item_count=Greatest(F("item_count") - removed, 0),
                stored_bytes=Greatest(F("stored_bytes") - freed, 0),
                updated_at=timezone.now(),
            )


# The two calls of every turn (read the history, store the new items), on the database thread
# without asgiref's per-call context handling (agentsite.conversations.dbthread); the read in
# the first lane, as a run's first event waits for it.
# The SDK asks ``inspect.signature`` of each protocol method, on every history read and write,
# whether it takes ``wrapper`` (agents.memory.session._session_accepts_wrapper); a signature
# computed once spares it deriving one from the code each time (~25 µs a read or write).
for _method in (
    DjangoSession.get_items,
    DjangoSession.add_items,
    DjangoSession.pop_item,
    DjangoSession.clear_session,
):
    _method.__signature__ = inspect.signature(_method)  # type: ignore[union-attr]

_read_items_in_thread = in_database_thread(DjangoSession._read_items, lane="first")
_add_items_in_thread = in_database_thread(DjangoSession._add_items_in_transaction)


async def _settled(work: Awaitable[T]) -> T:
    """Await a database write to its end, even through cancellation, then re-raise that.

    Work handed to the database thread cannot be stopped; a caller that returned at once on
    cancellation would not know whether its write happened (and might repeat it, or read
    before it lands). Like ``SQLiteSession``, the cancelled caller waits until the transaction
    has committed or rolled back as a whole, however often it is cancelled meanwhile, and only
    then sees ``CancelledError`` (the write's own error, if any, gives way to it).
    """
    task = asyncio.ensure_future(work)
    cancellation: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError as error:
            cancellation = cancellation or error
    if cancellation is not None:
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not report it as lost
        raise cancellation
    return task.result()


def _decode_readable(rows: Iterable[str], for_model: bool = False) -> list[TResponseInputItem]:
    """The items of these JSON rows, skipping any that is not valid JSON (written by some
    other hand: this module only stores ``json.dumps`` output), as ``SQLiteSession`` does."""
    decode = _decode_for_model if for_model else json.loads
    items: list[TResponseInputItem] = []
    for data in rows:
        try:
            items.append(decode(data))
        except (json.JSONDecodeError, TypeError):
            continue
    return items


def _decode_rows(rows: Iterable[tuple[int, str, Any]]) -> list[tuple[int, str, Any]]:
    """``(position, created_at ISO 8601, item)`` of each readable row of ``(position, data,
    created_at)``; a row that is not valid JSON is skipped, as ``_decode_readable`` does."""
    decoded = []
    for position, data, created_at in rows:
        try:
            decoded.append((position, created_at.isoformat(), json.loads(data)))
        except (json.JSONDecodeError, TypeError):
            continue
    return decoded


def _append_rows(
    cursor: CursorWrapper,
    target: tuple[int, int],
    start: int,
    rows: list[tuple[str, str, str]],
    interrupted: bool,
    title: str,
) -> None:
    """Insert items at positions ``start``… of ``target`` (conversation pk, branch) and move
    the conversation's counters on, under the row lock. Plain SQL: this runs twice per turn,
    and the ORM's per-query compilation cost more than the statements (see ``make bench``,
    session store)."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    c, i = CONVERSATIONS, ITEMS
    conversation_id, branch = target
    for first in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[first : first + INSERT_CHUNK]
        params: list[Any] = []
        for offset, (role, item_type, data) in enumerate(chunk, start=start + first):
            params += [conversation_id, branch, offset, data, role, item_type, interrupted, now]
        cursor.execute(
            f"INSERT INTO {i.table} ({i.conversation}, {i.branch}, {i.position}, {i.data},"
            f" {i.role}, {i.item_type}, {i.interrupted}, {i.created_at})"
            f" VALUES {', '.join([ITEM_ROW] * len(chunk))}",
            params,
        )
    # updated_at never before created_at, whatever the clocks of two writers say.
    set_title = f", {c.title} = %s" if title else ""
    size = sum(utf8_size(data) for _, _, data in rows)
    cursor.execute(
        f"UPDATE {c.table} SET {c.next_position} = %s, {c.item_count} = {c.item_count} + %s,"
        f" {c.stored_bytes} = {c.stored_bytes} + %s, {c.updated_at} = CASE WHEN"
        f" {c.created_at} > %s THEN {c.created_at} ELSE %s END{set_title} WHERE {c.pk} = %s",
        [
            start + len(rows),
            len(rows),
            size,
            now,
            now,
            *([title] if title else []),
            conversation_id,
        ],
    )


def _encode(item: Any) -> str:
    """JSON text of an item: readable UTF-8 where possible (admin search finds "café"),
    ASCII escapes when the item holds lone surrogates that UTF-8 cannot store."""
    text = json.dumps(item, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(item)
    return text


def utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (what MAX_CONVERSATION_BYTES counts)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _decode_for_model(data: str) -> Any:
    """A stored item for the model: lone surrogates (stored as ``\\udXXX`` escapes, see
    ``_encode``; nothing else writes them) read as U+FFFD."""
    item = json.loads(data)
    if "\\ud" not in data and "\\uD" not in data:
        return item
    return _replace_lone_surrogates(item)


def _replace_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_replace_lone_surrogates(child) for child in value]
    if isinstance(value, dict):
        return {
            _replace_lone_surrogates(key): _replace_lone_surrogates(child)
            for key, child in value.items()
        }
    return value


def _storable(text: str) -> str:
    """Text a plain column can hold: PostgreSQL rejects NUL, UTF-8 cannot hold lone surrogates."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _field(item: Any, name: str) -> str:
    value = item.get(name) if isinstance(item, dict) else getattr(item, name, None)
    return _storable(value) if isinstance(value, str) else ""


def _first_user_text(items: list[TResponseInputItem]) -> str:
    """A title for the conversation: the first words the user said."""
    for item in items:
        if not isinstance(item, dict) or item.get("role") != "user":
            continue
        content = _storable(message_text(item.get("content")))
        if content.strip():
            text = " ".join(content.split())
            return text if len(text) <= TITLE_LENGTH else text[: TITLE_LENGTH - 1] + "…"
    return ""
