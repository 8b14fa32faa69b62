"""WebSocket flow control: a client that stops reading is closed (4408) instead of growing the
server's memory, and incoming frames are limited in size (4413) and rate (4429).

In process with Channels' ``WebsocketCommunicator`` and, for the stalled reader, the ASGI
application driven by a client whose ``send`` never returns (it reads nothing). The slow test
does the same over a real socket under the production server (``manage.py serve``, uvicorn),
whose ``send`` waits while the client does not read (daphne buffers instead; see
agentsite.web.ws_flow).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

import agentsite.web.ws_flow as ws_flow
from agentsite.asgi import application
from tests.support.server import ServerPool, fresh_database

pytestmark = pytest.mark.django_db(transaction=True)

BROWSER_HEADERS = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
TIMEOUT = 5.0
# An unknown frame type is answered with an error event quoting it: a big answer per frame.
BIG_ANSWER_FRAME = json.dumps({"type": "x" * 2000})


async def connect(path: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=BROWSER_HEADERS)
    accepted, _ = await communicator.connect(timeout=TIMEOUT)
    assert accepted
    return communicator


@pytest.mark.parametrize("path", ["/ws/chat/", "/ws/research/"])
async def test_frames_over_the_rate_get_an_error_then_close_4429(settings: Any, path: str):
    settings.WS_FRAMES_PER_SECOND = 0.001  # no refill during the test: the burst is all
    settings.WS_FRAME_BURST = 3
    socket_ = await connect(path)
    for _ in range(6):
        await socket_.send_json_to({"type": "ping"})

    answers = [await socket_.receive_json_from(TIMEOUT) for _ in range(4)]

    assert answers[:3] == [{"type": "pong"}] * 3
    assert answers[3]["type"] == "error"
    assert answers[3]["status"] == 429
    assert "Too many frames" in answers[3]["message"]
    assert await socket_.receive_output(TIMEOUT) == {"type": "websocket.close", "code": 4429}
    await socket_.wait(TIMEOUT)


async def test_a_frame_over_the_size_limit_gets_an_error_then_close_4413(settings: Any):
    settings.WS_MAX_FRAME_BYTES = 1000
    socket_ = await connect("/ws/chat/")
    fits = json.dumps(
        {"type": "ping", "pad": "é" * 480}, ensure_ascii=False
    )  # 2 bytes each: just under 1000
    assert len(fits.encode()) <= 1000
    await socket_.send_to(text_data=fits)
    assert await socket_.receive_json_from(TIMEOUT) == {"type": "pong"}

    await socket_.send_to(
        text_data=json.dumps({"type": "ping", "pad": "é" * 500}, ensure_ascii=False)
    )

    answer = await socket_.receive_json_from(TIMEOUT)
    assert answer["type"] == "error"
    assert answer["status"] == 413
    assert await socket_.receive_output(TIMEOUT) == {"type": "websocket.close", "code": 4413}
    await socket_.wait(TIMEOUT)


class StalledClient:
    """Sends ``frames`` and then nothing; reads nothing: every data frame the server hands
    over stays unsent (``send`` never returns), as with a client that stopped reading."""

    def __init__(self, frames: list[str]) -> None:
        self.incoming: list[dict[str, Any]] = [{"type": "websocket.connect"}]
        self.incoming += [{"type": "websocket.receive", "text": frame} for frame in frames]
        self.attempted: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.incoming:
            return self.incoming.pop(0)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(self, message: dict[str, Any]) -> None:
        self.attempted.append(dict(message))
        if message["type"] == "websocket.send":
            await asyncio.Event().wait()


def websocket_scope(path: str) -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": BROWSER_HEADERS,
        "subprotocols": [],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def test_a_client_that_stops_reading_is_closed_with_4408(settings: Any, monkeypatch):
    settings.WS_MAX_PENDING_BYTES = 20_000
    settings.WS_FRAMES_PER_SECOND = 10_000.0
    settings.WS_FRAME_BURST = 10_000
    monkeypatch.setattr(ws_flow, "CLOSE_WAIT_SECONDS", 0.5)
    client = StalledClient([BIG_ANSWER_FRAME] * 200)

    # The application ends: the server let go of the socket instead of queueing 200 answers.
    await asyncio.wait_for(
        application(websocket_scope("/ws/chat/"), client.receive, client.send), 20
    )

    assert client.attempted[0]["type"] == "websocket.accept"
    assert {"type": "websocket.close", "code": 4408} in client.attempted
    # One answer reached the server (and got stuck there); the rest were never queued in it.
    assert len([m for m in client.attempted if m["type"] == "websocket.send"]) == 1


# --- a real server whose send waits for the client ------------------------------------------


class RawClient:
    """A WebSocket client over a plain socket with a tiny receive buffer, that reads only
    when told to (websockets' sans-I/O protocol does the framing)."""

    def __init__(self, port: int, path: str) -> None:
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.socket.settimeout(30)
        self.socket.connect(("127.0.0.1", port))
        self.protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}{path}"))
        request = self.protocol.connect()
        request.headers["Origin"] = f"http://127.0.0.1:{port}"
        self.protocol.send_request(request)
        self.flush()
        while self.protocol.handshake_exc is None and not self.protocol.events_received():
            if self.protocol.state.name == "OPEN":
                break
            self.protocol.receive_data(self.socket.recv(4096))
        assert self.protocol.state.name == "OPEN", self.protocol.handshake_exc

    def flush(self) -> None:
        self.socket.sendall(b"".join(self.protocol.data_to_send()))

    def send_text(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self.flush()

    def read_until_close(self) -> tuple[int, int | None]:
        """Read everything the server sent: (text frames, close code or None at EOF)."""
        from websockets.frames import Close, Opcode

        texts = 0
        while True:
            data = self.socket.recv(65536)
            if not data:
                return texts, None
            self.protocol.receive_data(data)
            for frame in self.protocol.events_received():
                if frame.opcode == Opcode.TEXT:
                    texts += 1
                elif frame.opcode == Opcode.CLOSE:
                    return texts, Close.parse(frame.data).code


@pytest.mark.slow
def test_production_server_closes_a_socket_whose_client_stopped_reading(tmp_path: Path):
    """The client asks again and again for the replay of a long finished run (hundreds of
    events each time) and reads none of it: more than the kernel's buffers hold, so uvicorn's
    send waits, the socket's queue fills and the server closes it with 4408 (the close frame
    reaches the client when it reads again)."""
    frames = 300
    with fresh_database(tmp_path) as database_url, ServerPool(tmp_path, database_url) as pool:
        server = pool.start(
            WS_MAX_PENDING_BYTES="500000",
            WS_FRAMES_PER_SECOND="100000",
            WS_FRAME_BURST="100000",
        )
        with server.client() as http:
            story = http.post("/chat/stream", json={"input": "Tell me a long story"})
            assert story.status_code == 200
            run_id = story.headers["X-Run-Id"]
        client = RawClient(server.port, "/ws/chat/")
        replay = json.dumps({"type": "resume", "run_id": run_id, "after": 0})
        for _ in range(frames):
            client.send_text(replay)
            if "fell behind" in server.log():
                break
        deadline = time.monotonic() + 60
        while "fell behind" not in server.log():
            assert time.monotonic() < deadline, "the server never gave up on the socket"
            time.sleep(0.1)

        _, code = client.read_until_close()
        client.socket.close()

    assert code == 4408
