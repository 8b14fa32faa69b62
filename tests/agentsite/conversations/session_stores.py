"""The two stores the ports of the SDK's session tests run against, and what a test may do to
each one's storage. The ``store`` fixture that picks one is in session_store_fixture.py.

``SQLiteSession`` is the control: the SDK's tests were written for it. Each ``Store`` opens
sessions of its kind and knows how to do, in that store's own tables, what the SDK's tests do
behind the session's back: write a row that is not valid JSON, and hold the next write on the
database thread so a test can cancel its caller meanwhile.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
from agents.memory import SQLiteSession
from django.db import connection
from django.db.models import F

from agentsite.conversations.dbthread import on_every_database_thread
from agentsite.conversations.session import DjangoSession
from agentsite.models import Conversation, ConversationItem

CORRUPT_JSON = "not valid json {{{"
# Long enough for a loaded machine, and a test that waits this long has failed anyway.
WAIT_SECONDS = 30


@dataclass
class Pause:
    """One write held on the database thread: ``reached`` is set once the write is under way,
    and it goes on when ``release`` is set."""

    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def hold(self) -> None:
        self.reached.set()
        assert self.release.wait(WAIT_SECONDS), "the test never released the write"


class Store(Protocol):
    name: str

    def session(self, session_id: str, **kwargs: Any) -> Any:
        """A session of this store's kind; all of a test's sessions share one database."""
        ...

    async def insert_corrupt_row(self, session: Any, data: str = CORRUPT_JSON) -> None:
        """Append a row that is not valid JSON to the session's history, as the newest item."""
        ...

    def pause_next_write(
        self, session: Any, then_fail: bool = False
    ) -> AbstractAsyncContextManager[Pause]:
        """Hold the next write the session's database work does, until ``release``; then let
        it go on, or with ``then_fail`` make it fail (its transaction rolls back)."""
        ...


class SQLiteStore:
    name = "sqlite"

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path = path
        self.monkeypatch = monkeypatch
        self.opened: list[SQLiteSession] = []

    def session(self, session_id: str, **kwargs: Any) -> SQLiteSession:
        session = SQLiteSession(session_id, self.path, **kwargs)
        self.opened.append(session)
        return session

    async def insert_corrupt_row(self, session: Any, data: str = CORRUPT_JSON) -> None:
        # As the SDK's tests do it (tests/memory/test_session.py).
        with session._locked_connection() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO agent_sessions (session_id) VALUES (?)",
                (session.session_id,),
            )
            conn.execute(
                f"INSERT INTO {session.messages_table} (session_id, message_data) VALUES (?, ?)",
                (session.session_id, data),
            )
            conn.commit()

    @asynccontextmanager
    async def pause_next_write(self, session: Any, then_fail: bool = False) -> AsyncIterator[Pause]:
        # The SDK's own device (test_sqlite_session_post_commit_cancellation_propagates_after_
        # known_outcome): a connection whose next commit waits once it has committed, or
        # waits and fails instead of committing.
        pause = Pause()

        class PausingConnection(sqlite3.Connection):
            armed = True

            def commit(self) -> None:
                if not self.armed:
                    return super().commit()
                self.armed = False
                if then_fail:
                    pause.hold()
                    raise RuntimeError("write failed")
                super().commit()
                pause.hold()

        conn = sqlite3.connect(str(self.path), check_same_thread=False, factory=PausingConnection)
        with session._connections_lock:
            session._connections.add(conn)
        self.monkeypatch.setattr(session, "_get_connection", lambda: conn)
        try:
            yield pause
        finally:
            pause.release.set()

    def close(self) -> None:
        for session in self.opened:
            session.close()


class DjangoStore:
    name = "django"

    def session(self, session_id: str, **kwargs: Any) -> DjangoSession:
        return DjangoSession(session_id, agent="chat", owner="anonymous", **kwargs)

    async def insert_corrupt_row(self, session: Any, data: str = CORRUPT_JSON) -> None:
        conversation, _ = await Conversation.objects.aget_or_create(
            owner_key=session.owner, agent=session.agent, session_id=session.session_id
        )
        await ConversationItem.objects.acreate(
            conversation=conversation, position=conversation.next_position, data=data
        )
        await Conversation.objects.filter(pk=conversation.pk).aupdate(
            next_position=F("next_position") + 1, item_count=F("item_count") + 1
        )

    @asynccontextmanager
    async def pause_next_write(self, session: Any, then_fail: bool = False) -> AsyncIterator[Pause]:
        # Every session call runs on a database thread; whichever connection runs the first
        # INSERT, UPDATE or DELETE holds it (after running it), so the transaction is under way
        # and has not ended; with ``then_fail`` that statement then raises.
        pause = Pause()
        armed = True

        def hold_first_write(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
            nonlocal armed
            result = execute(sql, *args)
            if armed and sql.lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
                armed = False
                pause.hold()
                if then_fail:
                    raise RuntimeError("write failed")
            return result

        await on_every_database_thread(lambda: connection.execute_wrappers.append(hold_first_write))
        try:
            yield pause
        finally:
            pause.release.set()
            await on_every_database_thread(
                lambda: connection.execute_wrappers.remove(hold_first_write)
            )
