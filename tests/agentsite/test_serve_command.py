"""``manage.py serve``: the production server's settings reach uvicorn; bad values are refused.

The server itself runs in every slow test (tests/support/server.py starts ``manage.py serve``);
here uvicorn's entry point is replaced at the boundary, to see what the command asks of it.
"""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from django.core.management import CommandError, call_command


@pytest.fixture
def started(monkeypatch) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    return calls


def test_serve_runs_uvicorn_with_uvloop_httptools_a_backlog_and_no_reload(settings, started):
    settings.HOST, settings.PORT, settings.WORKERS = "0.0.0.0", 9000, 3
    settings.LISTEN_BACKLOG = 4096
    call_command("serve")
    [(app, options)] = started
    assert app == "agentsite.asgi:application"
    assert options["host"] == "0.0.0.0"
    assert (options["port"], options["workers"], options["backlog"]) == (9000, 3, 4096)
    assert (options["loop"], options["http"], options["reload"]) == ("uvloop", "httptools", False)
    assert options["log_config"] is None, "Django's LOGGING must stay in charge"


def test_command_line_options_override_the_settings(settings, started):
    settings.HOST, settings.PORT, settings.WORKERS = "0.0.0.0", 9000, 3
    call_command("serve", host="127.0.0.1", port=8123, workers=1, backlog=128)
    [(_, options)] = started
    assert (options["host"], options["port"], options["workers"], options["backlog"]) == (
        "127.0.0.1",
        8123,
        1,
        128,
    )


@pytest.mark.parametrize("option", ["workers", "backlog"])
def test_serve_refuses_fewer_than_one(started, option):
    with pytest.raises(CommandError, match=f"--{option}"):
        call_command("serve", **{option: 0})
    assert started == []
