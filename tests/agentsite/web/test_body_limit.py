"""MAX_REQUEST_BYTES is enforced while the body arrives, not after it has been buffered.

In process, the ASGI application is driven as a server drives it, with a ``receive`` that hands
the body over chunk by chunk and counts how much of it was taken. Under the production server
(``manage.py serve``, uvicorn: it passes the body on as it arrives), a real chunked upload is
cut off with a 413 long before the client has sent it all. Under daphne no application can
refuse early: daphne reads the whole body before the application starts (README).
"""

from __future__ import annotations

import asyncio
import json
import logging
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentsite.asgi import application
from tests.support.asgi import post_json_scope
from tests.support.server import ServerPool, fresh_database

LIMIT = 100_000
CHUNK = 16_384


@pytest.fixture(autouse=True)
def small_limit(settings: Any) -> None:
    settings.MAX_REQUEST_BYTES = LIMIT
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT


class ScriptedUpload:
    """A client sending ``total`` bytes of body in CHUNK-sized messages, counting what the
    application took; afterwards it is a client that waits (and never leaves)."""

    def __init__(self, total: int, body: bytes = b"") -> None:
        self.body = body
        self.total = total
        self.taken = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.taken >= self.total:
            await asyncio.Event().wait()  # the body is sent; the client waits for its answer
        piece = self.body[self.taken : self.taken + CHUNK] or b" " * CHUNK
        piece = piece[: self.total - self.taken]
        self.taken += len(piece)
        return {"type": "http.request", "body": piece, "more_body": self.taken < self.total}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return self.sent[0]["status"]

    def json(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))


def chunked_scope(path: str = "/chat/run") -> dict[str, Any]:
    """A POST without Content-Length (``Transfer-Encoding: chunked`` on the wire)."""
    scope = post_json_scope(path, b"")
    scope["headers"] = [
        (name, value) for name, value in scope["headers"] if name != b"content-length"
    ] + [(b"transfer-encoding", b"chunked")]
    return scope


async def test_a_declared_length_over_the_limit_is_refused_before_reading(caplog):
    scope = post_json_scope("/chat/run", b"")
    scope["headers"] = [(b"content-length", b"629145600"), *scope["headers"][:2]]
    upload = ScriptedUpload(600 * 1024 * 1024)

    await application(scope, upload.receive, upload.send)

    assert upload.taken == 0
    assert upload.status == 413
    assert upload.json() == {
        "success": False,
        "error": f"Request body too large: 629145600 bytes, limit {LIMIT}",
        "code": "payload_too_large",
    }
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(caplog):
    upload = ScriptedUpload(1024 * 1024 * 1024)

    await application(chunked_scope(), upload.receive, upload.send)

    assert upload.status == 413
    assert dict(upload.sent[0]["headers"])[b"content-type"] == b"application/json"
    assert upload.json()["success"] is False
    assert "too large" in upload.json()["error"]
    # Just past the limit was read, not the gigabyte.
    assert LIMIT < upload.taken <= LIMIT + CHUNK
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.django_db(transaction=True)
async def test_a_chunked_body_within_the_limit_reaches_the_view():
    body = json.dumps({"input": "Hello", "padding": "x" * (LIMIT - 100)}).encode()
    assert len(body) <= LIMIT
    upload = ScriptedUpload(len(body), body)

    await application(chunked_scope(), upload.receive, upload.send)

    assert upload.status == 200, upload.json()
    assert upload.json()["success"] is True


# --- a real server that hands the body over as it arrives -----------------------------------


@pytest.fixture
def production_server(tmp_path: Path) -> Iterator[Any]:
    with fresh_database(tmp_path) as database_url, ServerPool(tmp_path, database_url) as pool:
        yield pool.start(MAX_REQUEST_BYTES=str(LIMIT))


def read_response(connection: socket.socket) -> tuple[int, bytes]:
    """Status and body of the one response on ``connection`` (it is closed after it)."""
    raw = b""
    connection.settimeout(10)
    while True:
        try:
            data = connection.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        raw += data
        head, _, body = raw.partition(b"\r\n\r\n")
        length = [
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ]
        if length and len(body) >= length[0]:
            break
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


@pytest.mark.slow
def test_production_server_answers_413_before_a_chunked_upload_ends(production_server):
    total = 256 * 1024 * 1024
    chunk = b"x" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", production_server.port), timeout=10) as connection:
        connection.sendall(
            b"POST /chat/run HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        deadline = time.monotonic() + 60
        while sent < total and time.monotonic() < deadline:
            readable, writable, _ = select.select([connection], [connection], [], 1)
            if readable:
                break  # the server answered while the client was still sending
            if writable:
                try:
                    connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += len(chunk)
        status, body = read_response(connection)

    assert status == 413
    assert json.loads(body)["success"] is False
    # The server stopped reading: the client got its answer with most of the body unsent.
    assert sent < total // 4
    assert "Traceback" not in production_server.log()


@pytest.mark.slow
def test_production_server_refuses_a_declared_length_at_once(production_server):
    with socket.create_connection(("127.0.0.1", production_server.port), timeout=10) as connection:
        connection.sendall(
            b"POST /chat/run HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 629145600\r\n\r\n"
        )
        status, body = read_response(connection)

    assert status == 413
    assert json.loads(body)["error"] == f"Request body too large: 629145600 bytes, limit {LIMIT}"
