"""The WebSocket protocol (DESIGN.md §6) through the real ASGI application.

Every test talks to ``agentsite.asgi.application`` — host check, session/auth middleware, URL
router, consumer — with Channels' ``WebsocketCommunicator``, as a browser would through daphne.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from agents.testing import assistant_message
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from agentsite.asgi import application
from agentsite.models import Conversation, ConversationItem, Run
from agentsite.runs.hub import TERMINAL_TYPES
from agentsite.web.apikeys import generate_api_key
from agentsite.web.consumers import CLOSE_NO_ROUTE, CLOSE_UNAUTHORIZED
from tests.agentsite.web.contract import ERROR_KEYS, assert_event_keys
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)

T = TypeVar("T")
# A browser on a page the site served: its own origin, a Host in ALLOWED_HOSTS
# (agentsite.web.origins).
BROWSER_HEADERS = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
RECEIVE_TIMEOUT = 5.0  # seconds; a timeout here also kills the application under test
SLOW_WORD_DELAY = 0.05  # the offline model then takes ~1.5 s per reply: time to act mid-run
RUN_FRAME_KEYS = {"run_id", "seq"}


class Socket:
    """A connected test client: JSON frames in and out, closed at most once."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.closed = False

    async def send(self, frame: dict[str, Any]) -> None:
        await self.communicator.send_json_to(frame)

    async def send_text(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def receive(self) -> dict[str, Any]:
        return await self.communicator.receive_json_from(RECEIVE_TIMEOUT)

    async def events_until_terminal(self) -> list[dict[str, Any]]:
        events = [await self.receive()]
        while events[-1]["type"] not in TERMINAL_TYPES:
            events.append(await self.receive())
        return events

    async def events_until_deltas(self, count: int) -> list[dict[str, Any]]:
        """Events up to and including the ``count``-th text delta of the run."""
        events: list[dict[str, Any]] = []
        while len(text_deltas(events)) < count:
            event = await self.receive()
            assert event["type"] not in TERMINAL_TYPES, f"run ended too early: {event}"
            events.append(event)
        return events

    async def answers_ping(self) -> bool:
        await self.send({"type": "ping"})
        return await self.receive() == {"type": "pong"}

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.communicator.disconnect(timeout=RECEIVE_TIMEOUT)


@asynccontextmanager
async def connected(
    path: str = "/ws/chat/", headers: list[tuple[bytes, bytes]] | None = None
) -> AsyncIterator[Socket]:
    communicator = WebsocketCommunicator(
        application, path, headers=BROWSER_HEADERS + (headers or [])
    )
    accepted, _ = await communicator.connect(timeout=RECEIVE_TIMEOUT)
    assert accepted, f"handshake to {path} refused"
    socket = Socket(communicator)
    try:
        yield socket
    finally:
        await socket.close()


def bearer(raw_key: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {raw_key}".encode())]


def text_deltas(events: list[dict[str, Any]]) -> list[str]:
    return [
        event["delta"]
        for event in events
        if event.get("event_type") == "response.output_text.delta"
    ]


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [event["seq"] for event in events]


def without_frame_keys(event: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in event.items() if key not in RUN_FRAME_KEYS}


async def eventually(
    read: Callable[[], Awaitable[T]], accept: Callable[[T], bool], within: float = 5.0
) -> T:
    """Poll ``read`` until ``accept`` holds (returning that value) or fail after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        value = await read()
        if accept(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r} after {within} s"
        await asyncio.sleep(0.02)


# Test-side reads go through database_sync_to_async, which closes its connection afterwards: an
# idle connection left in asgiref's executor thread stops PostgreSQL dropping the test database.
@database_sync_to_async
def load_run(run_id: str) -> Run:
    return Run.objects.get(pk=run_id)


@database_sync_to_async
def stored_items(session_id: str) -> list[ConversationItem]:
    return list(
        ConversationItem.objects.filter(conversation__session_id=session_id).order_by("position")
    )


@database_sync_to_async
def runs_of_session(session_id: str) -> list[Run]:
    return list(Run.objects.filter(session_id=session_id))


@database_sync_to_async
def load_conversation(session_id: str) -> Conversation:
    return Conversation.objects.get(session_id=session_id)


@database_sync_to_async
def new_api_key(name: str) -> tuple[str, str]:
    """(owner key, plaintext) of a fresh API key."""
    key, raw = generate_api_key(name)
    return key.owner_key, raw


async def run_status_when(run_id: str, *statuses: str) -> Run:
    return await eventually(lambda: load_run(run_id), lambda run: run.status in statuses)


async def other_tasks() -> set[asyncio.Task[Any]]:
    """The tasks on the loop besides this test's own."""
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current and not task.done()}


@pytest.fixture
def slow_model(settings) -> None:
    settings.OFFLINE_MODEL_DELAY = SLOW_WORD_DELAY


# --- runs ------------------------------------------------------------------------------------


async def test_run_sends_the_sse_event_objects_with_run_id_and_seq(client, use_scripted_model):
    reply = [assistant_message("Hello Ada", item_id="msg_1")]
    use_scripted_model([reply, reply])
    response = await client.post(
        "/chat/stream", {"input": "Hi", "session_id": "sse-twin"}, content_type="application/json"
    )
    sse_events = parse_sse(b"".join([chunk async for chunk in response.streaming_content]))

    async with connected() as socket:
        await socket.send({"type": "run", "input": "Hi", "session_id": "ws-twin"})
        events = await socket.events_until_terminal()
        assert await socket.communicator.receive_nothing(0.2)

    assert events[-1]["type"] == "stream_complete"
    assert events[-1]["final_output"] == "Hello Ada"
    assert events[-1]["session_id"] == "ws-twin"
    assert seqs(events) == list(range(1, len(events) + 1))
    run_ids = {event["run_id"] for event in events}
    assert len(run_ids) == 1
    uuid.UUID(run_ids.pop())
    assert len(events) == len(sse_events)
    for ws_event, sse_event in zip(events, sse_events, strict=True):
        assert_event_keys(ws_event)
        assert set(ws_event) == set(sse_event) | RUN_FRAME_KEYS
        volatile = {"run_id", "session_id", "response_id", "timestamp"}
        same = {key for key in sse_event if key not in volatile}
        assert {k: ws_event[k] for k in same} == {k: sse_event[k] for k in same}
    run = await load_run(events[-1]["run_id"])
    assert run.status == "completed"
    assert run.event_count == len(events)


async def test_two_runs_on_one_socket_share_the_session_memory():
    async with connected() as socket:
        await socket.send(
            {"type": "run", "input": "My name is Ada, I work as a nurse.", "session_id": "ws-mem"}
        )
        first = await socket.events_until_terminal()
        await socket.send({"type": "run", "input": "What do I do?", "session_id": "ws-mem"})
        second = await socket.events_until_terminal()

    assert first[-1]["type"] == second[-1]["type"] == "stream_complete"
    assert first[-1]["run_id"] != second[-1]["run_id"]
    assert seqs(second) == list(range(1, len(second) + 1))
    assert "My name is Ada, I work as a nurse." in second[-1]["final_output"]
    assert [item.role for item in await stored_items("ws-mem")] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]


async def test_next_turn_is_accepted_right_after_the_last_event():
    """A client may send its next turn the moment it sees ``stream_complete``: by then the run
    has given the conversation back (no 409 from a lease still held)."""
    async with connected() as socket:
        endings = []
        for turn in range(10):
            await socket.send({"type": "run", "input": f"Turn {turn}", "session_id": "ws-quick"})
            endings.append((await socket.events_until_terminal())[-1])

    assert [(event["type"], event.get("status")) for event in endings] == [
        ("stream_complete", None)
    ] * 10
    assert len(await stored_items("ws-quick")) == 20


async def test_ping_is_answered_with_pong():
    async with connected("/ws/assistant/") as socket:
        assert await socket.answers_ping()
        assert await socket.answers_ping()


async def test_malformed_frames_get_error_events_and_the_socket_stays_open(settings):
    # Many frames at once: this test is about each frame's answer, not the frame rate limit.
    settings.WS_FRAME_BURST = 1000
    unknown_run = str(uuid.uuid4())
    frames: list[tuple[str | bytes, int]] = [
        ("this is not json", 400),
        ("[1, 2, 3]", 400),
        ('"run"', 400),
        (b"\x00binary", 400),
        (json.dumps({"input": "no type"}), 400),
        (json.dumps({"type": "dance"}), 400),
        (json.dumps({"type": "run", "input": "   "}), 422),
        (json.dumps({"type": "run", "input": []}), 422),
        (json.dumps({"type": "run"}), 422),
        (json.dumps({"type": "run", "input": "Hi", "session_id": "bad id!"}), 422),
        (json.dumps({"type": "run", "input": "Hi", "on_disconnect": "explode"}), 422),
        (json.dumps({"type": "resume", "run_id": "not-a-uuid"}), 422),
        (json.dumps({"type": "resume", "run_id": unknown_run, "after": -1}), 422),
        (json.dumps({"type": "resume", "run_id": unknown_run}), 404),
        (json.dumps({"type": "cancel", "run_id": "not-a-uuid"}), 422),
        (json.dumps({"type": "cancel", "mode": "eventually"}), 422),
        (json.dumps({"type": "cancel", "run_id": unknown_run}), 404),
        (json.dumps({"type": "cancel"}), 409),
        # Odd input that once answered 500 (an unhashable type; RecursionError in json.loads).
        (json.dumps({"type": ["run"]}), 400),
        (json.dumps({"type": {"run": 1}}), 400),
        ('{"type": "run", "input": ' + "[" * 50_000 + "]" * 50_000 + "}", 400),
        ('{"type": "run", "input": "hi", "context": ' + '{"a":' * 50 + "1" + "}" * 51, 422),
        # Lone surrogates, which would poison the conversation's later turns.
        (json.dumps({"type": "run", "input": "a\ud800b", "session_id": "poison"}), 422),
        (
            json.dumps(
                {
                    "type": "run",
                    "input": [
                        {"role": "user", "content": [{"type": "input_text", "text": "\udc00"}]}
                    ],
                }
            ),
            422,
        ),
        (json.dumps({"type": "run", "input": "hi", "context": {"k": "\ud83d"}}), 422),
    ]
    async with connected() as socket:
        for frame, status in frames:
            if isinstance(frame, bytes):
                await socket.communicator.send_to(bytes_data=frame)
            else:
                await socket.send_text(frame)
            error = await socket.receive()
            assert error["type"] == "error", frame
            assert error["status"] == status, (frame, error)
            assert set(error) >= ERROR_KEYS
            assert error["message"]
            assert error["code"] != "internal_error", (frame, error)
            assert await socket.answers_ping(), frame
    assert await Conversation.objects.acount() == 0


async def test_error_event_echoes_a_valid_session_id():
    async with connected() as socket:
        await socket.send({"type": "run", "input": "", "session_id": "echo-me"})
        error = await socket.receive()
    assert error["status"] == 422
    assert error["session_id"] == "echo-me"
    assert "input must not be empty" in error["message"]


# --- cancel ----------------------------------------------------------------------------------


async def test_cancel_mid_run_keeps_the_partial_reply_as_interrupted(slow_model):
    async with connected() as socket:
        await socket.send({"type": "run", "input": "Tell me a story", "session_id": "ws-stop"})
        events = await socket.events_until_deltas(3)
        await socket.send({"type": "cancel"})
        events += await socket.events_until_terminal()
        assert await socket.answers_ping()

    last = events[-1]
    assert last["type"] == "run_cancelled"
    assert "stream_complete" not in [event["type"] for event in events]
    assert seqs(events) == list(range(1, len(events) + 1))
    assert (last["mode"], last["cancelled_by"]) == ("immediate", "anonymous")
    seen = "".join(text_deltas(events))
    assert seen and last["partial_output"] == seen
    run = await run_status_when(last["run_id"], "cancelled")
    assert run.cancelled_by == "anonymous"
    items = await stored_items("ws-stop")
    assert [(item.role, item.interrupted) for item in items] == [
        ("user", False),
        ("assistant", True),
    ]
    assert json.loads(items[-1].data)["content"] == seen
    assert (await load_conversation("ws-stop")).active_run is None


async def test_cancel_sent_before_the_run_has_started_still_cancels_it(slow_model):
    async with connected() as socket:
        await socket.send({"type": "run", "input": "Never mind", "session_id": "ws-early"})
        await socket.send({"type": "cancel", "mode": "immediate"})
        events = await socket.events_until_terminal()

    assert events[-1]["type"] == "run_cancelled"
    assert seqs(events) == list(range(1, len(events) + 1))
    await run_status_when(events[-1]["run_id"], "cancelled")
    assert (await load_conversation("ws-early")).active_run is None


async def test_cancel_by_run_id_from_a_second_socket(slow_model):
    async with connected() as first, connected() as second:
        await first.send({"type": "run", "input": "Go on and on", "session_id": "ws-remote"})
        events = await first.events_until_deltas(1)
        run_id = events[0]["run_id"]

        await second.send({"type": "cancel", "run_id": run_id})
        status = await second.receive()
        events += await first.events_until_terminal()

    assert status["type"] == "run_status"
    assert (status["run_id"], status["status"]) == (run_id, "cancelled")
    assert events[-1]["type"] == "run_cancelled"
    assert events[-1]["run_id"] == run_id
    assert (await load_run(run_id)).status == "cancelled"


async def test_disconnect_with_on_disconnect_cancel_cancels_the_run(slow_model):
    async with connected() as socket:
        await socket.send(
            {
                "type": "run",
                "input": "Talk for a while",
                "session_id": "ws-gone",
                "on_disconnect": "cancel",
            }
        )
        events = await socket.events_until_deltas(2)
        await socket.close()

    run = await run_status_when(events[0]["run_id"], "cancelled")
    assert run.cancelled_by == "disconnect"
    assert (await load_conversation("ws-gone")).active_run is None
    # Nothing is left behind: no forwarding task, no run driver, no lease renewer.
    assert not await eventually(other_tasks, lambda left: not left)


async def test_disconnect_right_after_the_run_frame_applies_the_cancel_policy(slow_model):
    async with connected() as socket:
        await socket.send(
            {"type": "run", "input": "Bye", "session_id": "ws-bye", "on_disconnect": "cancel"}
        )

    run = await eventually(
        lambda: runs_of_session("ws-bye"),
        lambda runs: [run.status for run in runs] == ["cancelled"],
    )
    assert run[0].cancelled_by == "disconnect"
    assert (await load_conversation("ws-bye")).active_run is None


async def test_disconnect_with_continue_then_resume_live_gets_exactly_the_rest(slow_model):
    async with connected() as socket:
        # No on_disconnect: WS_ON_DISCONNECT ("continue") applies.
        await socket.send({"type": "run", "input": "Keep going", "session_id": "ws-stay"})
        before = await socket.events_until_deltas(3)
    run_id = before[0]["run_id"]
    assert (await load_run(run_id)).status == "running"

    async with connected() as socket:
        await socket.send({"type": "resume", "run_id": run_id, "after": len(before)})
        after = await socket.events_until_terminal()
        assert await socket.communicator.receive_nothing(0.2)

    assert after[-1]["type"] == "stream_complete"
    assert seqs(before) + seqs(after) == list(range(1, len(before) + len(after) + 1))
    assert {event["run_id"] for event in before + after} == {run_id}
    run = await run_status_when(run_id, "completed")
    assert run.event_count == len(before) + len(after)
    assert "".join(text_deltas(before + after)) == after[-1]["final_output"]


async def test_resume_a_finished_run_replays_from_the_log(slow_model):
    async with connected() as socket:
        await socket.send({"type": "run", "input": "Finish without me", "session_id": "ws-log"})
        before = await socket.events_until_deltas(2)
    run_id = before[0]["run_id"]
    run = await run_status_when(run_id, "completed")

    async with connected() as socket:
        await socket.send({"type": "resume", "run_id": run_id})
        everything = await socket.events_until_terminal()
        await socket.send({"type": "resume", "run_id": run_id, "after": len(before)})
        rest = await socket.events_until_terminal()
        await socket.send({"type": "resume", "run_id": run_id, "after": run.event_count})
        nothing_left = await socket.receive()

    assert seqs(everything) == list(range(1, run.event_count + 1))
    assert [without_frame_keys(e) for e in everything[: len(before)]] == [
        without_frame_keys(e) for e in before
    ]
    assert rest == everything[len(before) :]
    assert rest[-1]["type"] == "stream_complete"
    assert nothing_left["type"] == "run_status"
    assert (nothing_left["run_id"], nothing_left["status"]) == (run_id, "completed")


async def test_concurrent_runs_replay_every_event_once_finished(slow_model):
    """A finished run is replayed from the event log (a resume from any process): it must hold
    every event the live stream sent, even when several runs write their logs at once."""

    async def run_and_replay(index: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with connected() as socket:
            await socket.send(
                {"type": "run", "input": "Busy day", "session_id": f"ws-many-{index}"}
            )
            live = await socket.events_until_terminal()
        await run_status_when(live[0]["run_id"], "completed")
        async with connected() as socket:
            await socket.send({"type": "resume", "run_id": live[0]["run_id"]})
            replayed = await socket.events_until_terminal()
        return live, replayed

    for live, replayed in await asyncio.gather(*(run_and_replay(index) for index in range(6))):
        assert live[-1]["type"] == "stream_complete"
        assert seqs(replayed) == seqs(live) == list(range(1, len(live) + 1))
        assert replayed == live


# --- one run at a time -----------------------------------------------------------------------


async def test_second_run_on_a_busy_session_or_socket_gets_409(slow_model):
    async with connected() as first, connected() as second:
        await first.send({"type": "run", "input": "Long answer please", "session_id": "ws-busy"})
        events = await first.events_until_deltas(1)

        await second.send({"type": "run", "input": "Me too", "session_id": "ws-busy"})
        other_socket = await second.receive()
        await first.send({"type": "run", "input": "And again", "session_id": "ws-elsewhere"})
        same_socket = await first.receive()
        while same_socket["type"] != "error":  # the run's own events keep coming meanwhile
            events.append(same_socket)
            same_socket = await first.receive()
        assert await second.answers_ping()

        await first.send({"type": "cancel"})
        events += await first.events_until_terminal()

    assert (other_socket["type"], other_socket["status"]) == ("error", 409)
    assert other_socket["session_id"] == "ws-busy"
    assert (same_socket["type"], same_socket["status"]) == ("error", 409)
    assert "already streaming" in same_socket["message"]
    assert events[-1]["type"] == "run_cancelled"
    assert seqs(events) == list(range(1, len(events) + 1))


# --- ownership -------------------------------------------------------------------------------


async def test_api_keys_cannot_resume_or_cancel_each_others_runs(slow_model):
    owner_key, mine = await new_api_key("mine")
    _, theirs = await new_api_key("theirs")

    async with (
        connected(headers=bearer(mine)) as owner,
        connected(f"/ws/chat/?api_key={theirs}") as other,
        connected() as anonymous,
    ):
        await owner.send({"type": "run", "input": "Private matters", "session_id": "ws-mine"})
        events = await owner.events_until_deltas(1)
        run_id = events[0]["run_id"]

        refusals = []
        for intruder in (other, anonymous):
            await intruder.send({"type": "resume", "run_id": run_id})
            refusals.append(await intruder.receive())
            await intruder.send({"type": "cancel", "run_id": run_id})
            refusals.append(await intruder.receive())
        assert (await load_run(run_id)).status == "running"

        events += await owner.events_until_terminal()

    assert [(event["type"], event["status"]) for event in refusals] == [("error", 404)] * 4
    assert events[-1]["type"] == "stream_complete"
    run = await load_run(run_id)
    assert (run.owner_key, run.status) == (owner_key, "completed")


async def test_required_api_key_refuses_a_keyless_socket_with_4401(settings):
    settings.REQUIRE_API_KEY = True
    _, raw = await new_api_key("required")

    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=BROWSER_HEADERS)
    accepted, _ = await communicator.connect(timeout=RECEIVE_TIMEOUT)
    assert accepted  # accepted only so that the close code reaches the client
    error = await communicator.receive_json_from(RECEIVE_TIMEOUT)
    close = await communicator.receive_output(RECEIVE_TIMEOUT)
    await communicator.disconnect(code=CLOSE_UNAUTHORIZED)

    assert (error["type"], error["status"]) == ("error", 401)
    assert close == {"type": "websocket.close", "code": CLOSE_UNAUTHORIZED}
    async with connected(headers=bearer(raw)) as socket:
        assert await socket.answers_ping()


async def test_an_unknown_api_key_is_refused_with_4401():
    communicator = WebsocketCommunicator(
        application, "/ws/chat/?api_key=ask_not-a-key", headers=BROWSER_HEADERS
    )
    await communicator.connect(timeout=RECEIVE_TIMEOUT)
    error = await communicator.receive_json_from(RECEIVE_TIMEOUT)
    close = await communicator.receive_output(RECEIVE_TIMEOUT)
    await communicator.disconnect(code=CLOSE_UNAUTHORIZED)

    assert error["status"] == 401
    assert close["code"] == CLOSE_UNAUTHORIZED


# --- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ws/nobody/", "/ws/", "/elsewhere", "/ws/chat/extra/"])
async def test_unknown_paths_are_refused_at_the_handshake(path, caplog):
    communicator = WebsocketCommunicator(application, path, headers=BROWSER_HEADERS)
    accepted, code = await communicator.connect(timeout=RECEIVE_TIMEOUT)
    await communicator.disconnect(timeout=RECEIVE_TIMEOUT)  # as the server does after a refusal

    assert (accepted, code) == (False, CLOSE_NO_ROUTE)
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


async def test_a_foreign_origin_is_refused():
    communicator = WebsocketCommunicator(
        application, "/ws/chat/", headers=[(b"origin", b"http://evil.example")]
    )
    accepted, _ = await communicator.connect(timeout=RECEIVE_TIMEOUT)
    await communicator.disconnect(timeout=RECEIVE_TIMEOUT)
    assert not accepted
