"""The ``store`` fixture: each test that takes it runs once on ``SQLiteSession`` and once on
``DjangoSession`` (tests/agentsite/conversations/session_stores.py).

A plugin module: load it with ``pytest_plugins =
["tests.agentsite.conversations.session_store_fixture"]``.
It is kept apart from session_stores.py so tests can import the stores' names without pytest
having already imported the plugin (which would cost it assertion rewriting).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agentsite.conversations.session_stores import DjangoStore, SQLiteStore, Store


@pytest.fixture(
    params=["sqlite", pytest.param("django", marks=pytest.mark.django_db(transaction=True))]
)
def store(request, tmp_path, monkeypatch) -> Iterator[Store]:
    """One store; every session a test opens in it shares one database."""
    if request.param == "django":
        yield DjangoStore()
        return
    sqlite = SQLiteStore(tmp_path / "sessions.db", monkeypatch)
    yield sqlite
    sqlite.close()
