"""A quota refusal as the AI SDK's chat client (``useChat``'s ``AbstractChat`` with
``DefaultChatTransport``) and AG-UI's ``HttpAgent`` hand it to the application: the Node
scripts of tests/js against a real server with a limit of 2 runs per minute."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.agentsite.web.test_protocol_clients import ag_ui, ai_chat
from tests.support.server import ServerPool, ServerProcess, fresh_database

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("quota-protocol-clients")
    with fresh_database(directory) as database_url, ServerPool(directory, database_url) as pool:
        yield pool.start(QUOTA_RUNS_PER_MINUTE="2")


def test_the_clients_report_the_refusal_as_an_error(server: ServerProcess):
    if time.time() % 60 > 40:  # the four runs must fall in one UTC minute
        time.sleep(61 - time.time() % 60)
    admitted = ai_chat(server, "chat", "ask", "hello")
    assert admitted["chat"]["status"] == "ready" and admitted["chat"]["error"] is None
    assert "error" not in ag_ui(server, "chat", "ask", "hello")["run"]
    refused = ai_chat(server, "chat", "ask", "hello again")
    assert refused["chat"]["status"] == "error"
    assert "quota_exceeded" in refused["chat"]["error"]
    assert "too many runs started this minute" in refused["chat"]["error"]
    failed = ag_ui(server, "chat", "ask", "hello again")["run"]
    assert "429" in failed["error"], failed
