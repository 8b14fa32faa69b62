"""Detached runs over HTTP in one process: numbered SSE events, resume, the run ledger, cancel,
one run per conversation, the sessions list and heartbeats.

Everything goes through the public surface (Django's ``AsyncClient``, or the ASGI application
itself where a client must vanish mid-stream) with the offline model or a ``ScriptedModel``. The
database event log is what a resume reads once a run has left memory, so these tests cover it
end to end; the Redis log is contract-tested in test_eventlog.py and across processes in
test_multiprocess.py.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from agents.exceptions import ModelBehaviorError
from agents.testing import ModelStep, assistant_message, function_call
from django.test import AsyncClient
from django.utils import timezone

from agentsite.asgi import application
from agentsite.models import Conversation, ConversationItem, Run
from agentsite.runs.hub import get_live
from tests.support.asgi import post_json_scope

pytestmark = pytest.mark.django_db(transaction=True)

Event = dict[str, Any]
WORD_DELAY = (
    0.005  # offline model: the long story (~550 words) streams for ~3 s, time to act mid-run
)
READ_TIMEOUT = 10.0  # seconds any one stream may take to deliver what a test waits for
STORY = "Tell me a long story about the lighthouse keeper and the seven gulls."


# --- reading SSE from the AsyncClient --------------------------------------------------------


@dataclass
class SseStream:
    """Reads an SSE response block by block, keeping ids, events and comment lines apart."""

    response: Any
    run_id: str = ""
    events: list[tuple[int, Event]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    finished: bool = False
    _buffer: str = ""
    _block: list[str] = field(default_factory=list)
    _chunks: AsyncIterator[bytes] | None = None

    def __post_init__(self) -> None:
        self.run_id = self.response.get("X-Run-Id", "")
        self._chunks = aiter(self.response.streaming_content)

    async def read_until(self, done: Callable[[Event], bool], within: float = READ_TIMEOUT) -> None:
        """Read until an event satisfies ``done``; each event is offered to it once."""
        deadline = time.monotonic() + within
        checked = len(self.events)
        while True:
            for _, event in self.events[checked:]:
                checked += 1
                if done(event):
                    return
            assert not self.finished, f"stream ended first: {self.types()}"
            await self._read_block(deadline - time.monotonic())

    async def read_to_end(self, within: float = READ_TIMEOUT) -> list[tuple[int, Event]]:
        deadline = time.monotonic() + within
        while not self.finished:
            await self._read_block(deadline - time.monotonic())
        return self.events

    async def read_comment(self, within: float = READ_TIMEOUT) -> None:
        """Read until a comment line arrives (or the stream ends)."""
        deadline = time.monotonic() + within
        seen = len(self.comments)
        while not self.finished and len(self.comments) == seen:
            await self._read_block(deadline - time.monotonic())

    async def _read_block(self, remaining: float) -> None:
        if remaining <= 0:
            raise AssertionError(f"stream stalled; events so far: {self.types()}")
        assert self._chunks is not None
        try:
            chunk = await asyncio.wait_for(anext(self._chunks), remaining)
        except StopAsyncIteration:
            self.finished = True
            assert not self._buffer and not self._block, f"stream ended mid-event: {self._buffer!r}"
            return
        self._buffer += chunk.decode()
        # Line by line, as EventSource does: a comment counts when it arrives, even though
        # only the next event's blank line ends its block.
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if line:
                self._block.append(line)
                if line.startswith(":"):
                    self.comments.append(line)
            elif self._block:
                block, self._block = self._block, []
                self._parse(block)

    def _parse(self, lines: list[str]) -> None:
        assert not any(line.startswith("event:") for line in lines), lines
        ids = [line.removeprefix("id: ") for line in lines if line.startswith("id: ")]
        data = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
        # Every block a client sees as an event carries data: no retry- or comment-only block.
        assert len(data) == 1 and len(ids) == 1, f"one id and one data line per event: {lines!r}"
        assert all(line.startswith((":", "retry:", "id: ", "data: ")) for line in lines), lines
        run_part, _, seq = ids[0].rpartition(":")
        assert run_part == self.run_id, f"id {ids[0]!r} does not name run {self.run_id}"
        self.events.append((int(seq), json.loads(data[0])))

    def types(self) -> list[str]:
        return [event["type"] for _, event in self.events]

    def deltas(self) -> list[str]:
        return [
            event["delta"]
            for _, event in self.events
            if event.get("event_type") == "response.output_text.delta"
        ]


def is_delta(event: Event) -> bool:
    return event.get("event_type") == "response.output_text.delta"


def count_deltas(n: int) -> Callable[[Event], bool]:
    """A ``read_until`` predicate true once ``n`` text deltas have been seen in the stream."""
    seen = 0

    def done(event: Event) -> bool:
        nonlocal seen
        seen += is_delta(event)
        return seen >= n

    return done


async def start_stream(client: AsyncClient, path: str, body: dict[str, Any]) -> SseStream:
    response = await client.post(path, body, content_type="application/json")
    assert response.status_code == 200, response.content
    return SseStream(response)


async def resume(
    client: AsyncClient, agent: str, run_id: str, *, after: int | None = None, header: str = ""
) -> SseStream:
    query = f"?after={after}" if after is not None else ""
    headers = {"Last-Event-ID": header} if header else {}
    response = await client.get(f"/{agent}/runs/{run_id}/stream{query}", headers=headers)
    assert response.status_code == 200, response.content
    return SseStream(response)


async def run_status(client: AsyncClient, run_id: str, agent: str = "chat") -> dict[str, Any]:
    response = await client.get(f"/{agent}/runs/{run_id}")
    assert response.status_code == 200, response.content
    return response.json()


async def wait_for_status(
    client: AsyncClient, run_id: str, *, leaving: str = "running", within: float = READ_TIMEOUT
) -> dict[str, Any]:
    """Poll the run's ledger entry until its status is no longer ``leaving``."""
    deadline = time.monotonic() + within
    while True:
        status = await run_status(client, run_id)
        if status["status"] != leaving or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.02)


async def stored_items(session_id: str) -> list[ConversationItem]:
    return [
        item
        async for item in ConversationItem.objects.filter(
            conversation__session_id=session_id
        ).order_by("position")
    ]


def assert_contiguous(events: list[tuple[int, Event]], first: int = 1) -> None:
    assert [seq for seq, _ in events] == list(range(first, first + len(events)))


@pytest.fixture
def slow_offline_model(settings) -> float:
    """The offline model with a pause per word, so a run lasts long enough to act mid-run."""
    settings.OFFLINE_MODEL_DELAY = WORD_DELAY
    return WORD_DELAY


def gated_reply(gate: asyncio.Event, text: str) -> ModelStep:
    """A model step that answers ``text`` only once ``gate`` is set: the model stays silent."""

    async def respond(call: Any) -> list[Any]:
        await asyncio.wait_for(gate.wait(), READ_TIMEOUT)
        return [assistant_message(text)]

    return ModelStep.respond(respond)


# --- numbering and resume --------------------------------------------------------------------


async def test_sse_ids_are_contiguous_and_name_the_run(client):
    stream = await start_stream(client, "/chat/stream", {"input": "Hello", "session_id": "ids"})
    events = await stream.read_to_end()

    uuid.UUID(stream.run_id)
    assert_contiguous(events)
    assert stream.types()[0] == "agent_updated"
    assert stream.types()[-1] == "stream_complete"
    assert events[-1][1]["run_id"] == stream.run_id


@pytest.mark.parametrize("how", ["last-event-id", "after"])
async def test_resume_after_completion_replays_the_exact_tail(client, how: str):
    stream = await start_stream(client, "/chat/stream", {"input": "Hi", "session_id": "tail"})
    events = await stream.read_to_end()
    cut = len(events) // 2

    if how == "after":
        replay = await resume(client, "chat", stream.run_id, after=cut)
    else:
        replay = await resume(client, "chat", stream.run_id, header=f"{stream.run_id}:{cut}")

    assert await replay.read_to_end() == events[cut:]
    assert replay.response["X-Run-Id"] == stream.run_id
    assert replay.response["Cache-Control"] == "no-cache"


async def test_resume_of_everything_and_of_nothing(client):
    stream = await start_stream(client, "/chat/stream", {"input": "Hi", "session_id": "ends"})
    events = await stream.read_to_end()

    everything = await resume(client, "chat", stream.run_id, after=0)
    assert await everything.read_to_end() == events
    # Nothing left of a finished run: 204, which stops an EventSource from reconnecting for
    # ever (an empty 200 stream made it come back every `retry` milliseconds).
    for query, headers in (
        (f"?after={len(events)}", {}),
        ("", {"Last-Event-ID": f"{stream.run_id}:{len(events)}"}),
        ("?after=1000", {}),
    ):
        nothing = await client.get(f"/chat/runs/{stream.run_id}/stream{query}", headers=headers)
        assert nothing.status_code == 204, (query, headers)
        assert nothing.content == b""
    last = await resume(client, "chat", stream.run_id, after=len(events) - 1)
    assert await last.read_to_end() == events[-1:]


@pytest.mark.parametrize("seq", ["²", "1³", "1" * 40, "-1", "1.5", " "])
async def test_resume_refuses_odd_last_event_ids(client, seq):
    stream = await start_stream(client, "/chat/stream", {"input": "Hi"})
    await stream.read_to_end()
    response = await client.get(
        f"/chat/runs/{stream.run_id}/stream", headers={"Last-Event-ID": f"{stream.run_id}:{seq}"}
    )
    assert response.status_code == 400, response.content
    assert response.json()["success"] is False


async def test_resume_while_running_follows_live(client, slow_offline_model):
    original = await start_stream(
        client, "/chat/stream", {"input": STORY, "session_id": "live-resume"}
    )
    await original.read_until(count_deltas(3))
    assert len(original.deltas()) == 3
    seen = original.events[-1][0]
    assert (await run_status(client, original.run_id))["status"] == "running"

    follower = await resume(client, "chat", original.run_id, header=f"{original.run_id}:{seen}")
    followed = await follower.read_to_end()
    everything = await original.read_to_end()

    assert followed == everything[seen:]
    assert_contiguous(followed, first=seen + 1)
    assert followed[-1][1]["type"] == "stream_complete"


@pytest.mark.parametrize("value", ["garbage", "12abc", "abc:def", ":"])
async def test_malformed_last_event_id_is_a_400(client, value: str):
    stream = await start_stream(client, "/chat/stream", {"input": "Hi", "session_id": "bad-id"})
    await stream.read_to_end()

    response = await client.get(
        f"/chat/runs/{stream.run_id}/stream", headers={"Last-Event-ID": value}
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["success"] is False


async def test_last_event_id_of_another_run_is_a_400(client):
    first = await start_stream(client, "/chat/stream", {"input": "One", "session_id": "runs-a"})
    await first.read_to_end()
    second = await start_stream(client, "/chat/stream", {"input": "Two", "session_id": "runs-b"})
    await second.read_to_end()

    response = await client.get(
        f"/chat/runs/{second.run_id}/stream", headers={"Last-Event-ID": f"{first.run_id}:2"}
    )
    assert response.status_code == 400
    assert "another run" in response.json()["error"]


async def test_negative_after_is_a_422(client):
    stream = await start_stream(client, "/chat/stream", {"input": "Hi", "session_id": "neg"})
    await stream.read_to_end()
    response = await client.get(f"/chat/runs/{stream.run_id}/stream?after=-1")
    assert response.status_code == 422
    assert response.json()["success"] is False


@pytest.mark.parametrize(
    "path",
    ["/chat/runs/{id}", "/chat/runs/{id}/stream", "/chat/runs/{id}/stream?after=0"],
)
async def test_unknown_run_is_a_404(client, path: str):
    response = await client.get(path.format(id=uuid.uuid4()))
    assert response.status_code == 404
    assert response.json()["success"] is False
    cancel = await client.post(f"/chat/runs/{uuid.uuid4()}/cancel")
    assert cancel.status_code == 404


async def test_run_of_another_agent_is_a_404(client):
    stream = await start_stream(client, "/chat/stream", {"input": "Hi", "session_id": "agent"})
    await stream.read_to_end()
    assert (await client.get(f"/assistant/runs/{stream.run_id}")).status_code == 404
    assert (await client.get(f"/chat/runs/{stream.run_id}")).status_code == 200


# --- the run ledger --------------------------------------------------------------------------


async def test_ledger_of_a_completed_run(client):
    stream = await start_stream(client, "/chat/stream", {"input": "Hello", "session_id": "led"})
    events = await stream.read_to_end()

    status = await run_status(client, stream.run_id)
    assert status["status"] == "completed"
    assert status["session_id"] == "led"
    assert status["event_count"] == len(events)
    assert status["error"] == ""
    assert status["finished_at"] is not None
    usage = status["usage"]
    assert usage["requests"] == 1
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage == events[-1][1]["usage"]

    run = await Run.objects.aget(pk=stream.run_id)
    assert run.first_event_ms is not None and run.latency_ms is not None
    assert 0 <= run.first_event_ms <= run.latency_ms
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.lease_until is None
    conversation = await Conversation.objects.aget(session_id="led")
    assert conversation.total_tokens == run.total_tokens
    assert conversation.active_run is None


async def test_ledger_of_a_failed_run(client, use_scripted_model):
    use_scripted_model([ModelBehaviorError("the model produced nonsense")])
    stream = await start_stream(client, "/chat/stream", {"input": "Hi", "session_id": "fail"})
    events = await stream.read_to_end()

    assert events[-1][1]["type"] == "error"
    assert "nonsense" in events[-1][1]["message"]
    status = await run_status(client, stream.run_id)
    assert status["status"] == "failed"
    assert "nonsense" in status["error"]
    assert status["event_count"] == len(events)
    assert status["finished_at"] is not None
    conversation = await Conversation.objects.aget(session_id="fail")
    assert conversation.active_run is None, "a failed run must give the conversation back"


# --- cancel ----------------------------------------------------------------------------------


async def test_cancel_immediately_mid_run(client, slow_offline_model):
    stream = await start_stream(client, "/chat/stream", {"input": STORY, "session_id": "stop"})
    await stream.read_until(count_deltas(2))

    response = await client.post(f"/chat/runs/{stream.run_id}/cancel?mode=immediate")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancelled_by"] == "anonymous"

    events = await stream.read_to_end()
    assert_contiguous(events)
    last = events[-1][1]
    assert last["type"] == "run_cancelled"
    assert last["mode"] == "immediate"
    assert "stream_complete" not in stream.types()
    partial = "".join(stream.deltas())
    assert last["partial_output"] == partial
    assert len(stream.deltas()) >= 2

    items = await stored_items("stop")
    assert [item.role for item in items] == ["user", "assistant"]
    assert items[-1].interrupted is True
    assert json.loads(items[-1].data) == {"role": "assistant", "content": partial}
    conversation = await Conversation.objects.aget(session_id="stop")
    assert conversation.active_run is None and conversation.run_lease_until is None
    status = await run_status(client, stream.run_id)
    assert status["status"] == "cancelled"
    assert status["event_count"] == len(events)
    # The stopped response reported no usage (providers report it on completion); its tokens
    # are counted by estimate, in the ledger, the conversation and the cancel event alike.
    usage = status["usage"]
    assert usage["requests"] == 1
    assert usage["input_tokens"] >= len(STORY) // 4
    assert usage["output_tokens"] >= len(partial) // 4 > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert last["usage"] == usage
    assert conversation.total_tokens == usage["total_tokens"]

    follow_up = await client.post(
        "/chat/run", {"input": "Go on", "session_id": "stop"}, content_type="application/json"
    )
    assert follow_up.status_code == 200, follow_up.content


async def wait_for_cancel_request(run_id: str, mode: str, within: float = READ_TIMEOUT) -> None:
    """Poll this process's live run until it has taken the cancel request.

    The cancel endpoint waits for the run to end, and an ``after_turn`` run cannot end while
    its turn is held open by the test, so the request must be seen arriving another way.
    """
    deadline = time.monotonic() + within
    while True:
        live = get_live(uuid.UUID(run_id))
        if live is not None and live.cancel_mode == mode:
            return
        assert time.monotonic() < deadline, f"the run never received the {mode} cancel"
        await asyncio.sleep(0.01)


async def test_cancel_after_turn_finishes_the_turn_then_stops(client, use_scripted_model):
    gate = asyncio.Event()

    async def call_tool_when_released(call: Any) -> list[Any]:
        await asyncio.wait_for(gate.wait(), READ_TIMEOUT)
        return [function_call("calculate", {"expression": "6*7"}, call_id="call_1")]

    model = use_scripted_model(
        [ModelStep.respond(call_tool_when_released), [assistant_message("It is 42")]]
    )
    stream = await start_stream(
        client, "/assistant/stream", {"input": "What is 6*7?", "session_id": "after-turn"}
    )
    await stream.read_until(lambda event: event["type"] == "agent_updated")

    cancelling = asyncio.create_task(
        client.post(f"/assistant/runs/{stream.run_id}/cancel?mode=after_turn")
    )
    await wait_for_cancel_request(stream.run_id, "after_turn")
    gate.set()
    response = await asyncio.wait_for(cancelling, READ_TIMEOUT)
    events = await stream.read_to_end()

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert events[-1][1]["type"] == "run_cancelled"
    assert events[-1][1]["mode"] == "after_turn"
    # The turn ran to its end (the tool was called and answered), the next turn never began.
    names = [event.get("name") for _, event in events]
    assert "tool_called" in names and "tool_output" in names
    assert model.remaining_steps == 1
    items = [json.loads(item.data) for item in await stored_items("after-turn")]
    assert [item.get("type", "message") for item in items] == [
        "message",
        "function_call",
        "function_call_output",
    ]
    conversation = await Conversation.objects.aget(session_id="after-turn")
    assert conversation.active_run is None


async def test_cancelling_a_finished_run_is_a_no_op(client):
    stream = await start_stream(client, "/chat/stream", {"input": "Hi", "session_id": "done"})
    events = await stream.read_to_end()

    for mode in ("immediate", "after_turn"):
        response = await client.post(f"/chat/runs/{stream.run_id}/cancel?mode={mode}")
        assert response.status_code == 200
        assert response.json()["status"] == "completed"
        assert response.json()["cancelled_by"] == ""
    replay = await resume(client, "chat", stream.run_id, after=0)
    assert await replay.read_to_end() == events


async def test_cancel_mode_is_validated(client):
    stream = await start_stream(client, "/chat/stream", {"input": "Hi", "session_id": "mode"})
    await stream.read_to_end()
    response = await client.post(f"/chat/runs/{stream.run_id}/cancel?mode=whenever")
    assert response.status_code == 422


# --- one run per conversation ----------------------------------------------------------------


async def post_run(client: AsyncClient, body: dict[str, Any]) -> Any:
    return await client.post("/chat/run", body, content_type="application/json")


async def test_reject_or_enqueue_a_second_run_on_one_session(client, use_scripted_model):
    gate = asyncio.Event()
    use_scripted_model([gated_reply(gate, "first reply"), [assistant_message("second reply")]])
    first = await start_stream(client, "/chat/stream", {"input": "First", "session_id": "q"})
    await first.read_until(lambda event: event["type"] == "agent_updated")

    rejected = await post_run(client, {"input": "Second", "session_id": "q"})
    assert rejected.status_code == 409
    assert rejected.json()["success"] is False
    also_rejected = await post_run(
        client, {"input": "Second", "session_id": "q", "multitask": "reject"}
    )
    assert also_rejected.status_code == 409

    queued = asyncio.create_task(
        post_run(client, {"input": "Second", "session_id": "q", "multitask": "enqueue"})
    )
    # Absence of progress cannot be polled for: give the queued run time it would need to start.
    await asyncio.sleep(0.3)
    assert not queued.done(), "an enqueued run must wait for the running one"
    gate.set()
    await first.read_to_end()
    second = await asyncio.wait_for(queued, READ_TIMEOUT)

    assert first.types()[-1] == "stream_complete"
    assert second.status_code == 200, second.content
    assert second.json()["final_output"] == "second reply"
    items = [json.loads(item.data) for item in await stored_items("q")]
    assert [item["role"] for item in items] == ["user", "assistant", "user", "assistant"]
    assert items[0]["content"] == "First" and items[2]["content"] == "Second"


async def test_enqueue_gives_up_after_the_wait_limit(client, settings, use_scripted_model):
    settings.MULTITASK_WAIT_SECONDS = 0.2
    gate = asyncio.Event()
    use_scripted_model([gated_reply(gate, "slow")])
    first = await start_stream(client, "/chat/stream", {"input": "First", "session_id": "limit"})
    await first.read_until(lambda event: event["type"] == "agent_updated")

    started = time.monotonic()
    queued = await post_run(
        client, {"input": "Next", "session_id": "limit", "multitask": "enqueue"}
    )

    assert queued.status_code == 409
    assert time.monotonic() - started >= 0.2
    gate.set()
    assert (await first.read_to_end())[-1][1]["type"] == "stream_complete"


async def test_a_dead_processes_run_is_interrupted_when_its_conversation_is_taken_over(client):
    """What a kill -9 leaves behind: a "running" run whose lease and conversation lease have
    expired. The next turn takes the conversation over and the ledger says what happened."""
    await post_run(client, {"input": "Hello", "session_id": "crashed"})
    conversation = await Conversation.objects.aget(session_id="crashed")
    expired = timezone.now() - timedelta(seconds=1)
    dead = await Run.objects.acreate(
        conversation=conversation, agent="chat", session_id="crashed", lease_until=expired
    )
    elsewhere = await Run.objects.acreate(agent="chat", session_id="other", lease_until=expired)
    await Conversation.objects.filter(pk=conversation.pk).aupdate(
        active_run=dead.pk, run_lease_until=expired
    )

    response = await post_run(client, {"input": "Still there?", "session_id": "crashed"})

    assert response.status_code == 200, response.content
    await dead.arefresh_from_db()
    assert dead.status == "interrupted"
    assert dead.finished_at is not None and "stopped" in dead.error
    await elsewhere.arefresh_from_db()
    assert elsewhere.status == "running", "only the taken-over conversation's runs are touched"
    statuses = [run.status async for run in Run.objects.filter(conversation=conversation)]
    assert sorted(statuses) == ["completed", "completed", "interrupted"]


async def test_a_live_lease_is_not_taken_over(client):
    await post_run(client, {"input": "Hello", "session_id": "alive"})
    conversation = await Conversation.objects.aget(session_id="alive")
    alive = await Run.objects.acreate(
        conversation=conversation,
        agent="chat",
        session_id="alive",
        lease_until=timezone.now() + timedelta(minutes=1),
    )
    await Conversation.objects.filter(pk=conversation.pk).aupdate(
        active_run=alive.pk, run_lease_until=timezone.now() + timedelta(minutes=1)
    )

    response = await post_run(client, {"input": "Me too", "session_id": "alive"})

    assert response.status_code == 409
    await alive.arefresh_from_db()
    assert alive.status == "running"


# --- the sessions list -----------------------------------------------------------------------


async def list_sessions(client: AsyncClient, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/chat/sessions{query}")
    assert response.status_code == 200, response.content
    return response.json()


async def test_sessions_newest_first_with_titles_and_counts(client):
    long_title = "word " * 30
    for session_id, text in [("s1", "Hello, I am Ada"), ("s2", long_title), ("s3", "Third")]:
        assert (
            await post_run(client, {"input": text, "session_id": session_id})
        ).status_code == 200

    body = await list_sessions(client)
    assert [row["session_id"] for row in body["sessions"]] == ["s3", "s2", "s1"]
    assert (body["total"], body["page"], body["page_size"], body["has_more"]) == (3, 1, 20, False)
    rows = {row["session_id"]: row for row in body["sessions"]}
    assert rows["s1"]["title"] == "Hello, I am Ada"
    assert rows["s2"]["title"].endswith("…") and len(rows["s2"]["title"]) == 80
    assert all(row["item_count"] == 2 and row["active"] is False for row in rows.values())

    assert (await post_run(client, {"input": "Again", "session_id": "s1"})).status_code == 200
    body = await list_sessions(client)
    assert [row["session_id"] for row in body["sessions"]] == ["s1", "s3", "s2"]
    assert body["sessions"][0]["item_count"] == 4
    assert body["sessions"][0]["title"] == "Hello, I am Ada", "the title is the first words"


async def test_sessions_pagination(client):
    for index in range(5):
        response = await post_run(client, {"input": f"Hi {index}", "session_id": f"p{index}"})
        assert response.status_code == 200

    first = await list_sessions(client, "?page=1&page_size=2")
    second = await list_sessions(client, "?page=2&page_size=2")
    third = await list_sessions(client, "?page=3&page_size=2")
    beyond = await list_sessions(client, "?page=4&page_size=2")

    pages = [first, second, third]
    assert [[row["session_id"] for row in page["sessions"]] for page in pages] == [
        ["p4", "p3"],
        ["p2", "p1"],
        ["p0"],
    ]
    assert [page["has_more"] for page in pages] == [True, True, False]
    assert {page["total"] for page in [*pages, beyond]} == {5}
    assert beyond["sessions"] == [] and beyond["has_more"] is False
    assert (first["page"], first["page_size"]) == (1, 2)


async def test_sessions_show_the_active_run(client, use_scripted_model):
    assert (await post_run(client, {"input": "Idle", "session_id": "idle"})).status_code == 200
    gate = asyncio.Event()
    use_scripted_model([gated_reply(gate, "done")])
    stream = await start_stream(client, "/chat/stream", {"input": "Busy", "session_id": "busy"})
    await stream.read_until(lambda event: event["type"] == "agent_updated")

    during = {row["session_id"]: row["active"] for row in (await list_sessions(client))["sessions"]}
    gate.set()
    await stream.read_to_end()
    after = {row["session_id"]: row["active"] for row in (await list_sessions(client))["sessions"]}

    assert during == {"busy": True, "idle": False}
    assert after == {"busy": False, "idle": False}


@pytest.mark.parametrize(
    "query",
    ["?page=0", "?page=-1", "?page=abc", "?page_size=0", "?page_size=101", "?page_size=x"],
)
async def test_sessions_paging_is_validated(client, query: str):
    response = await client.get(f"/chat/sessions{query}")
    assert response.status_code == 422
    assert response.json()["success"] is False


# --- heartbeats ------------------------------------------------------------------------------


async def test_heartbeat_while_the_model_is_silent(client, settings, use_scripted_model):
    settings.SSE_HEARTBEAT_SECONDS = 0.05
    gate = asyncio.Event()
    use_scripted_model([gated_reply(gate, "finally")])
    stream = await start_stream(client, "/chat/stream", {"input": "Think", "session_id": "beat"})

    await stream.read_comment()
    assert stream.comments[0] == ": keep-alive"
    gate.set()
    events = await stream.read_to_end()

    assert events[-1][1]["type"] == "stream_complete"
    assert events[-1][1]["final_output"] == "finally"
    # Heartbeats are comments: they take no sequence number.
    assert_contiguous(events)


# --- a client that goes away (through the ASGI application) ----------------------------------


@dataclass
class AsgiStream:
    """What an SSE client saw before it went away."""

    status: int
    headers: dict[bytes, bytes]
    body: bytes

    @property
    def run_id(self) -> str:
        return self.headers[b"X-Run-Id"].decode()

    def events(self) -> list[tuple[int, Event]]:
        """The complete events received (a block cut by the disconnect is dropped)."""
        found = []
        for block in self.body.decode().split("\n\n")[:-1]:
            lines = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
            if "data" in lines:
                found.append((int(lines["id"].rpartition(":")[2]), json.loads(lines["data"])))
        return found


async def stream_then_leave(payload: dict[str, Any], leave_after_deltas: int) -> AsgiStream:
    """POST /chat/stream through the ASGI app as daphne would, and disconnect after some text
    deltas: ``receive`` answers ``http.disconnect``, which makes Django cancel the response."""
    body = json.dumps(payload).encode()
    sent: list[dict[str, Any]] = []
    gone = asyncio.Event()
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        raw = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        if raw.count(b'"response.output_text.delta"') >= leave_after_deltas:
            gone.set()

    scope = post_json_scope("/chat/stream", body)
    await asyncio.wait_for(application(scope, receive, send), READ_TIMEOUT)
    start = next(m for m in sent if m["type"] == "http.response.start")
    raw = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return AsgiStream(start["status"], dict(start["headers"]), raw)


async def test_on_disconnect_continue_keeps_the_run_going(client, slow_offline_model):
    left = await stream_then_leave(
        {"input": STORY, "session_id": "keep-going", "on_disconnect": "continue"},
        leave_after_deltas=2,
    )
    assert left.status == 200
    seen = left.events()
    assert seen and "stream_complete" not in [event["type"] for _, event in seen]

    status = await wait_for_status(client, left.run_id)
    assert status["status"] == "completed"
    rest = await (await resume(client, "chat", left.run_id, after=seen[-1][0])).read_to_end()
    everything = await (await resume(client, "chat", left.run_id, after=0)).read_to_end()
    assert seen + rest == everything
    assert rest[-1][1]["type"] == "stream_complete"
    reply = rest[-1][1]["final_output"]
    assert STORY in reply

    items = await stored_items("keep-going")
    assert [item.role for item in items] == ["user", "assistant"]
    assert not items[-1].interrupted
    assert reply in items[-1].data


async def test_on_disconnect_cancel_stops_the_run(client, slow_offline_model):
    left = await stream_then_leave(
        {"input": STORY, "session_id": "stop-on-leave", "on_disconnect": "cancel"},
        leave_after_deltas=2,
    )
    assert left.status == 200

    status = await wait_for_status(client, left.run_id)
    assert status["status"] == "cancelled"
    assert status["cancelled_by"] == "disconnect"
    everything = await (await resume(client, "chat", left.run_id, after=0)).read_to_end()
    assert everything[-1][1]["type"] == "run_cancelled"
    items = await stored_items("stop-on-leave")
    assert items[-1].role == "assistant" and items[-1].interrupted
    assert STORY not in items[-1].data, "only the words sent before the stop are kept"


async def test_a_failed_run_records_the_usage_of_the_turns_it_made(client, use_scripted_model):
    """The ledger counts the model requests a run made before it failed (the second turn here
    fails after the first called a tool)."""
    use_scripted_model(
        [
            [function_call("calculate", {"expression": "6*7"}, call_id="c1")],
            ModelStep.raise_error(ModelBehaviorError("the model broke")),
        ]
    )
    response = await client.post(
        "/assistant/run", {"input": "what is 6*7?"}, content_type="application/json"
    )
    assert response.status_code == 502
    run = await Run.objects.aget()
    assert run.status == "failed"
    assert run.requests == 1
