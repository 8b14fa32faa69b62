"""A local stand-in for the OpenAI HTTP API, so the real ``openai`` client and the SDK's OpenAI
models are exercised end to end without a network or a key.

It speaks just enough of two protocols, streaming and not:

- Responses: ``POST /v1/responses`` → a ``Response`` object, or with ``stream: true`` a
  ``text/event-stream`` of ``event: response.created`` … ``event: response.completed``;
- Chat Completions: ``POST /v1/chat/completions`` → a ``ChatCompletion``, or with
  ``stream: true`` ``data: {chunk}`` lines ending in ``data: [DONE]`` (with a usage chunk when
  ``stream_options.include_usage`` asks for one).

Tests script it with a queue of behaviours (a text reply, a function call, an HTTP error, a
stream cut short, a stall); the same behaviour is rendered in whichever protocol the client
used, so one test runs against both APIs. Every request is recorded, and every exchange notes
whether the client hung up before it had the whole answer (``aborted``). The payloads
themselves are in tests/support/openai_wire.py; pytest fixtures that point agentsite at the
server are in tests/support/openai_fixtures.py.

The server runs its own event loop in a thread: it keeps answering whatever the test's loop is
doing, and sync tests or other processes can use it too. Every response carries
``Connection: close``, so one connection is one exchange and an end of file from the client
can only mean it gave up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.support.openai_wire import (
    Api,
    ChatShape,
    FunctionCall,
    RecordedRequest,
    ResponsesShape,
    Text,
    Usage,
)

STATUS_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
}


# --- behaviours besides the replies (Text, FunctionCall) of openai_wire -----------------------


@dataclass(frozen=True)
class HttpError:
    """An error status with OpenAI's JSON error body, sent before any streaming starts."""

    status: int = 500
    message: str = "The server had an error while processing your request."
    code: str | None = None


# What OpenAI answers a request with a wrong key: its message quotes (part of) the key.
INVALID_API_KEY = HttpError(
    401,
    "Incorrect API key provided: sk-test. You can find your API key at "
    "https://platform.openai.com/account/api-keys.",
    "invalid_api_key",
)


@dataclass(frozen=True)
class MalformedStream:
    """Start a streamed answer, then send an event whose data is not JSON."""

    data: bytes = b"{this is not json"


@dataclass(frozen=True)
class CutStream:
    """Stream ``text`` but hang up after ``after_deltas`` deltas, half way through the next
    event: the client sees a chunked body that never ends properly."""

    text: str
    after_deltas: int = 2


@dataclass(frozen=True)
class Stall:
    """Go silent for ``seconds`` (after ``after_deltas`` deltas when streaming), or until the
    client hangs up; if it is still there, finish ``text`` normally."""

    seconds: float
    text: str = "Sorry for the wait."
    after_deltas: int = 0


Behaviour = Text | FunctionCall | HttpError | CutStream | Stall | MalformedStream


# --- what happened ----------------------------------------------------------------------------


@dataclass
class Exchange:
    """One request and how the server's answer went."""

    request: RecordedRequest
    behaviour: Behaviour | None
    aborted: bool = False
    """The client closed the connection before it had the whole answer."""
    finished: threading.Event = field(default_factory=threading.Event)


class ClientGone(Exception):
    pass


# --- the server ------------------------------------------------------------------------------


class FakeOpenAI:
    """``start()`` it, script it (``text()``, ``function_call()``, …), ``stop()`` it.

    Besides the scripted exchanges it answers what a provider check asks, unscripted:
    ``GET /v1/models`` lists ``models``; a POST to an API endpoint without a ``model`` is a 400,
    as OpenAI rejects an invalid body. With ``api_key`` set, any other bearer token gets 401;
    an API left out of ``apis`` is a 404, as on a server that does not speak it.
    """

    def __init__(
        self,
        *,
        models: tuple[str, ...] = ("gpt-fake",),
        api_key: str | None = None,
        apis: tuple[Api, ...] = ("responses", "chat_completions"),
    ) -> None:
        self.models = models
        self.api_key = api_key
        self.apis = apis
        self.port = 0
        self._behaviours: deque[Behaviour] = deque()
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._counter = 0
        self._call_numbers = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=5)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    # scripting

    def enqueue(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._behaviours.extend(behaviours)

    def text(self, text: str, *, delay: float = 0.0, usage: Usage | None = None) -> None:
        self.enqueue(Text(text, delay=delay, usage=usage or Usage()))

    def function_call(
        self, name: str, arguments: dict[str, Any] | str, *, call_id: str | None = None
    ) -> str:
        """Queue a function call and return its call id."""
        call_id = call_id or f"call_{next(self._call_numbers)}"
        encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
        self.enqueue(FunctionCall(name, encoded, call_id))
        return call_id

    def http_error(self, status: int = 500, message: str | None = None) -> None:
        self.enqueue(HttpError(status, message or HttpError.message))

    def cut_stream(self, text: str, *, after_deltas: int = 2) -> None:
        self.enqueue(CutStream(text, after_deltas))

    def stall(self, seconds: float, *, text: str = Stall.text, after_deltas: int = 0) -> None:
        self.enqueue(Stall(seconds, text, after_deltas))

    # inspecting

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    @property
    def requests(self) -> list[RecordedRequest]:
        return [exchange.request for exchange in self.exchanges]

    @property
    def pending(self) -> int:
        """Behaviours scripted but not yet used."""
        with self._lock:
            return len(self._behaviours)

    async def finished(self, index: int) -> Exchange:
        """The ``index``-th exchange once the server is done with it (answered or hung up on).

        Waits as long as it takes; bound it with ``asyncio.timeout``. The exchange is finished by
        another thread's loop, which no ``asyncio.Event`` of the caller's loop can hear: polling
        is the simple way that leaves nothing behind when the wait is cancelled.
        """
        while len(self.exchanges) <= index or not self.exchanges[index].finished.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        return self.exchanges[index]

    # serving (all below runs on the server's own loop)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            request = await _read_request(reader)
            await self._answer(request, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(
        self, request: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        unscripted = self._unscripted(request)
        if unscripted is not None:
            with self._lock:
                self._exchanges.append(Exchange(request, None))
                self._exchanges[-1].finished.set()
            await _Responder(writer, asyncio.get_running_loop().create_future()).json(*unscripted)
            return
        with self._lock:
            behaviour = self._behaviours.popleft() if request.api and self._behaviours else None
            exchange = Exchange(request, behaviour)
            self._exchanges.append(exchange)
            self._counter += 1
            number = self._counter
        # The client sends nothing more on this connection, so reading returns only at its EOF.
        hangup = asyncio.ensure_future(reader.read())
        responder = _Responder(writer, hangup)
        try:
            if request.api is None:
                await responder.json(404, _error_body(f"no route for {request.path}"))
            elif behaviour is None:
                await responder.json(500, _error_body("fake OpenAI: no behaviour scripted"))
            else:
                await _render(behaviour, request, number, responder)
        except ClientGone:
            exchange.aborted = True
        finally:
            hangup.cancel()
            exchange.finished.set()

    def _unscripted(self, request: RecordedRequest) -> tuple[int, dict[str, Any]] | None:
        """The answer to a request that uses no scripted behaviour, if it is one."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.api_key is not None and token != self.api_key:
            return 401, _error_body("Incorrect API key provided", "invalid_request_error")
        if request.api is not None and request.api not in self.apis:
            return 404, _error_body(f"no route for {request.path}")
        if request.method == "GET" and request.path == "/v1/models":
            listed = [{"id": name, "object": "model", "owned_by": "fake"} for name in self.models]
            return 200, {"object": "list", "data": listed}
        if request.api is not None and "model" not in request.body:
            return 400, _error_body("Missing required parameter: 'model'.", "invalid_request_error")
        return None


class _Responder:
    """Writes one HTTP response; every write first checks the client is still there."""

    def __init__(self, writer: asyncio.StreamWriter, hangup: asyncio.Future[bytes]) -> None:
        self.writer = writer
        self.hangup = hangup

    async def json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        head = _head(status, "application/json", [f"Content-Length: {len(data)}"])
        await self._write(head + data)

    async def start_stream(self) -> None:
        head = _head(200, "text/event-stream; charset=utf-8", ["Transfer-Encoding: chunked"])
        await self._write(head)

    async def chunk(self, data: bytes) -> None:
        await self._write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    async def end_stream(self) -> None:
        await self._write(b"0\r\n\r\n")

    async def hang_up(self) -> None:
        """Close the socket without ending the chunked body."""
        await self.writer.drain()
        self.writer.close()

    async def pause(self, seconds: float) -> None:
        """Wait, but stop waiting as soon as the client hangs up."""
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.hangup), seconds)
        if self.hangup.done():
            raise ClientGone

    async def _write(self, data: bytes) -> None:
        if self.hangup.done():
            raise ClientGone
        try:
            self.writer.write(data)
            await self.writer.drain()
        except ConnectionError as exc:
            raise ClientGone from exc


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while size := int((await reader.readline()).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readline()
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    parsed = json.loads(body) if body else {}
    return RecordedRequest(method, target.split("?")[0], headers, parsed)


def _head(status: int, content_type: str, extra: list[str]) -> bytes:
    reason = STATUS_REASONS.get(status, "Internal Server Error" if status >= 500 else "Error")
    lines = [
        f"HTTP/1.1 {status} {reason}",
        f"Content-Type: {content_type}",
        "Connection: close",
        "x-request-id: req_fake",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _error_body(
    message: str, kind: str = "server_error", code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


# --- rendering a behaviour in either protocol ------------------------------------------------


async def _render(
    behaviour: Behaviour, request: RecordedRequest, number: int, out: _Responder
) -> None:
    if isinstance(behaviour, HttpError):
        kind = "server_error" if behaviour.status >= 500 else "invalid_request_error"
        await out.json(behaviour.status, _error_body(behaviour.message, kind, behaviour.code))
        return
    if isinstance(behaviour, MalformedStream):
        await out.start_stream()
        await out.chunk(b"data: " + behaviour.data + b"\n\n")
        await out.end_stream()
        return
    model = str(request.body.get("model", "gpt-fake"))
    shape = (
        ResponsesShape(number, model) if request.api == "responses" else ChatShape(number, model)
    )
    reply = behaviour if isinstance(behaviour, Text | FunctionCall) else Text(behaviour.text)
    if not request.stream:
        if isinstance(behaviour, Stall):
            await out.pause(behaviour.seconds)
        await out.json(200, shape.complete(reply))
        return
    include_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))
    await out.start_stream()
    deltas = 0
    stalled = False
    for event, is_delta in shape.stream(reply, include_usage=include_usage):
        if isinstance(behaviour, CutStream) and deltas == behaviour.after_deltas:
            await out.chunk(event[: len(event) // 2])
            await out.hang_up()
            return
        if isinstance(behaviour, Stall) and deltas == behaviour.after_deltas and not stalled:
            stalled = True
            await out.pause(behaviour.seconds)
        await out.chunk(event)
        if is_delta:
            deltas += 1
            if isinstance(behaviour, Text):
                await out.pause(behaviour.delay)
    if isinstance(behaviour, CutStream):  # fewer deltas than it was to cut after
        await out.hang_up()
        return
    # A client may hang up once it has the terminal event (the SDK closes the Responses stream
    # on ``response.completed``): it has the whole answer, so that is not an abort.
    with contextlib.suppress(ClientGone):
        await out.end_stream()


def closed_port() -> int:
    """A port nothing listens on, so connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
