"""A fast stand-in for the OpenAI Responses API, run in its own process for the benchmarks.

Why not tests/support/fake_openai.py? That server is built for correctness tests: it records
every request, scripts a queue of behaviours and closes the connection after each exchange. A
benchmark wants the opposite: a server that costs as little as possible and never becomes the
bottleneck, so the figures measure agentsite (or the SDK baseline), not the fake. This one:

- runs in a separate process (``python -m bench.upstream``) so it never shares the
  measured process's event loop or GIL;
- answers every ``POST /v1/responses`` (``stream: true``) with the same reply — N
  ``response.output_text.delta`` events framed by the usual created / output_item /
  content_part / done / completed events (payloads from tests/support/openai_wire.py's
  ``ResponsesShape``), pre-rendered to bytes once at start-up; only the response and item ids
  are substituted per request so every stored item has its own id;
- keeps HTTP/1.1 connections alive (chunked transfer encoding), as the ``openai`` client pools
  connections;
- with ``--delay`` it sleeps that long before each delta (the "slow stream" benchmark).

A non-streaming request gets the ``Response`` object as JSON (not used by the benchmarks, but it
keeps the server honest for the real client).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.openai_wire import ResponsesShape, Text

DEFAULT_DELTAS = 50
MODEL = "gpt-5-mini"
# Fixed-width placeholders, substituted per request (ResponsesShape numbers ids with %04d).
_PLACEHOLDER_NUMBER = 9999
_PLACEHOLDER_IDS = (b"resp_9999", b"msg_9999")
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class RenderedReply:
    """One reply, pre-rendered: SSE event blocks, and which of them are deltas."""

    events: list[tuple[bytes, bool]]
    complete: bytes

    def events_for(self, number: int) -> list[tuple[bytes, bool]]:
        return [(substitute_ids(block, number), delta) for block, delta in self.events]


def substitute_ids(data: bytes, number: int) -> bytes:
    """Give one reply its own response and item ids (the placeholders are fixed-width)."""
    ident = b"%012d" % number
    for placeholder in _PLACEHOLDER_IDS:
        data = data.replace(placeholder, placeholder[:-4] + ident)
    return data


def render_reply(deltas: int) -> RenderedReply:
    """The reply text is ``deltas`` words, so ResponsesShape streams exactly ``deltas`` deltas."""
    text = Text(" ".join(f"w{index}" for index in range(deltas)))
    shape = ResponsesShape(_PLACEHOLDER_NUMBER, MODEL)
    events = list(shape.stream(text, include_usage=True))
    assert sum(1 for _, is_delta in events if is_delta) == deltas
    complete = json.dumps(shape.complete(text)).encode()
    return RenderedReply(events=events, complete=complete)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


STREAM_HEADERS = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Connection: keep-alive\r\n\r\n"
)
LAST_CHUNK = b"0\r\n\r\n"


class UpstreamProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, parsed by hand: the least work per request asyncio allows."""

    counter = itertools.count(1)

    def __init__(self, reply: RenderedReply, delay: float) -> None:
        self.reply = reply
        self.delay = delay
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._process()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def _process(self) -> None:
        while not self.busy and self.transport is not None:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            request_line, *header_lines = head.split("\r\n")
            length = 0
            for line in header_lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            total = head_end + 4 + length
            if len(self.buffer) < total:
                return
            body = self.buffer[head_end + 4 : total]
            self.buffer = self.buffer[total:]
            method, path, _ = request_line.split(" ", 2)
            self._answer(method, path, body)

    def _answer(self, method: str, path: str, body: bytes) -> None:
        assert self.transport is not None
        if method != "POST" or not path.startswith("/v1/responses"):
            payload = b'{"error": {"message": "not found"}}'
            self.transport.write(
                b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
            )
            return
        number = next(self.counter)
        streaming = b'"stream":true' in body or b'"stream": true' in body
        if not streaming:
            payload = substitute_ids(self.reply.complete, number)
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
            )
            return
        events = self.reply.events_for(number)
        if self.delay <= 0:
            # Everything at once: one write, one chunk per event (as a real server frames them).
            self.transport.write(
                STREAM_HEADERS + b"".join(_chunk(block) for block, _ in events) + LAST_CHUNK
            )
            return
        self.busy = True
        asyncio.get_running_loop().create_task(self._paced(events))

    async def _paced(self, events: list[tuple[bytes, bool]]) -> None:
        try:
            if self.transport is None:
                return
            self.transport.write(STREAM_HEADERS)
            for block, is_delta in events:
                if is_delta:
                    await asyncio.sleep(self.delay)
                if self.transport is None or self.transport.is_closing():
                    return
                self.transport.write(_chunk(block))
            if self.transport is not None:
                self.transport.write(LAST_CHUNK)
        finally:
            self.busy = False
        self._process()


async def serve(port: int, deltas: int, delay: float, ready_fd: int | None) -> None:
    reply = render_reply(deltas)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: UpstreamProtocol(reply, delay), "127.0.0.1", port, backlog=4096
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if ready_fd is not None:
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deltas", type=int, default=DEFAULT_DELTAS)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each delta")
    parser.add_argument("--ready-fd", type=int, default=None)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.deltas, args.delay, args.ready_fd))


# --- the parent's side -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Upstream:
    """The upstream server process; a context manager that starts it and always stops it."""

    def __init__(self, deltas: int = DEFAULT_DELTAS, delay: float = 0.0) -> None:
        self.deltas = deltas
        self.delay = delay
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> Upstream:
        self.port = free_port()
        read_fd, write_fd = os.pipe()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.upstream",
                "--port",
                str(self.port),
                "--deltas",
                str(self.deltas),
                "--delay",
                str(self.delay),
                "--ready-fd",
                str(write_fd),
            ],
            cwd=REPO_ROOT,
            pass_fds=(write_fd,),
            start_new_session=True,
        )
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as ready:
            line = ready.readline()
        if line != b"ready\n":
            self.__exit__()
            raise RuntimeError(f"upstream did not start (exit code {self.process.poll()})")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@contextlib.contextmanager
def running_upstream(deltas: int = DEFAULT_DELTAS, delay: float = 0.0) -> Iterator[Upstream]:
    with Upstream(deltas, delay) as upstream:
        yield upstream


async def check_with_openai_client(base_url: str, deltas: int) -> None:
    """Stream one reply with the real ``openai`` client twice over one pooled connection;
    raise if the events are not what the benchmarks expect."""
    from openai import AsyncOpenAI

    async with AsyncOpenAI(api_key="sk-bench", base_url=base_url, max_retries=0) as client:
        for _ in range(2):
            seen = []
            stream = await client.responses.create(model=MODEL, input="hi", stream=True)
            async for event in stream:
                seen.append(event.type)
            count = seen.count("response.output_text.delta")
            if count != deltas or seen[-1] != "response.completed":
                raise RuntimeError(f"upstream stream is wrong: {count} deltas, ends {seen[-1]}")


if __name__ == "__main__":
    main()
