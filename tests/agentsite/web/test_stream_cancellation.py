"""A client that goes away mid-stream cancels the agent run (in process, through real ASGI).

The application is driven the way daphne drives it: the request body, then, once the client has
seen some events, ``http.disconnect``. Django's ASGI handler reacts by cancelling the task that
streams the response; these tests prove the cancellation reaches the model stream, gives the
conversation back and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from agents.testing import ModelStep
from channels.db import database_sync_to_async
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)

from agentsite.asgi import application
from agentsite.models import Conversation, ConversationItem
from tests.support.asgi import post_json_scope
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)

WORD_DELAY = 0.05
LONG_REPLY = [f"word{index} " for index in range(40)]  # ~2 s if streamed to the end
ASGI_TIMEOUT = 10  # seconds one request may take through the application


@dataclass
class SlowModelStream:
    """A ``ModelStep.stream`` factory: one assistant message, one word per ``WORD_DELAY``.

    It records how its generator ended, so a test can tell a stream that ran to completion from
    one that was cancelled (the run task was cancelled) or closed (its consumer stopped).
    """

    words: list[str]
    deltas_yielded: int = 0
    completed: bool = False
    cancelled: bool = False
    closed: bool = False
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, call: Any) -> AsyncIterator[Any]:
        return self._events()

    async def _events(self) -> AsyncIterator[Any]:
        text = "".join(self.words)
        message = ResponseOutputMessage(
            id="msg_slow",
            type="message",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
        )
        started = _response(output=[], status="in_progress")
        empty = ResponseOutputText(type="output_text", text="", annotations=[])
        seq = iter(range(10_000))
        try:
            yield ResponseCreatedEvent(
                type="response.created", response=started, sequence_number=next(seq)
            )
            yield ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=message.model_copy(update={"content": [], "status": "in_progress"}),
                output_index=0,
                sequence_number=next(seq),
            )
            yield ResponseContentPartAddedEvent(
                type="response.content_part.added",
                item_id=message.id,
                output_index=0,
                content_index=0,
                part=empty,
                sequence_number=next(seq),
            )
            for word in self.words:
                await asyncio.sleep(WORD_DELAY)
                yield ResponseTextDeltaEvent(
                    type="response.output_text.delta",
                    item_id=message.id,
                    output_index=0,
                    content_index=0,
                    delta=word,
                    logprobs=[],
                    sequence_number=next(seq),
                )
                self.deltas_yielded += 1
            yield ResponseTextDoneEvent(
                type="response.output_text.done",
                item_id=message.id,
                output_index=0,
                content_index=0,
                text=text,
                logprobs=[],
                sequence_number=next(seq),
            )
            yield ResponseContentPartDoneEvent(
                type="response.content_part.done",
                item_id=message.id,
                output_index=0,
                content_index=0,
                part=message.content[0],
                sequence_number=next(seq),
            )
            yield ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                item=message,
                output_index=0,
                sequence_number=next(seq),
            )
            yield ResponseCompletedEvent(
                type="response.completed",
                response=_response(output=[message], status="completed"),
                sequence_number=next(seq),
            )
            self.completed = True
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        except GeneratorExit:
            self.closed = True
            raise
        finally:
            self.ended.set()


def _response(output: list[Any], status: str) -> Response:
    return Response(
        id="resp_slow",
        created_at=time.time(),
        model="scripted",
        object="response",
        output=output,
        tool_choice="auto",
        tools=[],
        top_p=None,
        parallel_tool_calls=False,
        status=status,
    )


@dataclass
class AsgiExchange:
    """What the application sent back for one request."""

    messages: list[dict[str, Any]]

    @property
    def status(self) -> int:
        return self.messages[0]["status"]

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.messages[0]["headers"])

    @property
    def events(self) -> list[dict[str, Any]]:
        body = b"".join(
            message.get("body", b"")
            for message in self.messages
            if message["type"] == "http.response.body"
        )
        return parse_sse(body) if body else []


async def post_stream(
    payload: dict[str, Any], *, disconnect_after_deltas: int | None = None
) -> AsgiExchange:
    """POST /chat/stream through the ASGI application, as an ASGI server would.

    With ``disconnect_after_deltas``, ``receive`` answers ``http.disconnect`` as soon as that many
    text deltas have been sent, as daphne does when the client closes the connection.
    """
    body = json.dumps(payload).encode()
    messages: list[dict[str, Any]] = []
    gone = asyncio.Event()
    deltas_sent = 0
    unparsed = b""
    body_delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal body_delivered
        if not body_delivered:
            body_delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        # Django listens for the disconnect while the response streams; only answer it then.
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal deltas_sent
        # Like daphne, accept what is sent after the disconnect (until the cancellation lands).
        nonlocal unparsed
        messages.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            # A body message may end mid-block (the retry hint goes out alone): count the
            # deltas of the blocks it completes.
            complete, _, unparsed = (unparsed + message["body"]).rpartition(b"\n\n")
            for event in parse_sse(complete + b"\n\n") if complete else []:
                if event.get("event_type") == "response.output_text.delta":
                    deltas_sent += 1
        if disconnect_after_deltas is not None and deltas_sent >= disconnect_after_deltas:
            gone.set()

    scope = post_json_scope("/chat/stream", body)
    await asyncio.wait_for(application(scope, receive, send), ASGI_TIMEOUT)
    return AsgiExchange(messages)


async def wait_until_no_other_tasks(within: float) -> set[asyncio.Task[Any]]:
    """Poll until this test's task is the only one left on the loop; return what remains."""
    deadline = time.monotonic() + within
    while True:
        others = {
            task
            for task in asyncio.all_tasks()
            if task is not asyncio.current_task() and not task.done()
        }
        if not others or time.monotonic() > deadline:
            return others
        await asyncio.sleep(0.01)


# The test's own reads go through ``database_sync_to_async``, which closes the connection after
# each call: an idle connection left in asgiref's executor thread would stop PostgreSQL from
# dropping the test database at the end of the run.
@database_sync_to_async
def stored_conversation(session_id: str) -> Conversation:
    return Conversation.objects.get(session_id=session_id)


@database_sync_to_async
def stored_items(session_id: str) -> list[tuple[str, str]]:
    """(role, item JSON) of every stored item of the session, oldest first."""
    return list(
        ConversationItem.objects.filter(conversation__session_id=session_id)
        .order_by("position")
        .values_list("role", "data")
    )


def completed_reply_stored(items: list[tuple[str, str]], words: list[str]) -> bool:
    """Whether an assistant item holds the whole reply (its last word), as a finished run would.

    A stopped run may keep the part of the reply the client saw; it must never keep the rest.
    """
    return any(role == "assistant" and words[-1].strip() in data for role, data in items)


async def test_slow_stream_runs_to_completion_when_the_client_stays(use_scripted_model):
    """Control: the same slow model and harness, no disconnect, gives a complete stored turn."""
    stream = SlowModelStream(words=LONG_REPLY[:8])
    model = use_scripted_model([ModelStep.stream(stream)])

    exchange = await post_stream({"input": "Stay with me", "session_id": "cancel-control"})

    assert exchange.status == 200
    assert exchange.events[-1]["type"] == "stream_complete"
    assert exchange.events[-1]["final_output"] == "".join(LONG_REPLY[:8])
    assert stream.completed and not stream.cancelled and not stream.closed
    assert stream.deltas_yielded == 8
    model.assert_complete()
    conversation = await stored_conversation("cancel-control")
    assert conversation.active_run is None
    items = await stored_items("cancel-control")
    assert [role for role, _ in items] == ["user", "assistant"]
    assert completed_reply_stored(items, LONG_REPLY[:8])


async def test_client_disconnect_mid_stream_cancels_the_run(use_scripted_model):
    stream = SlowModelStream(words=LONG_REPLY)
    use_scripted_model([ModelStep.stream(stream)])
    started = time.monotonic()

    exchange = await post_stream(
        {"input": "Tell me a long story", "session_id": "cancel-me"}, disconnect_after_deltas=2
    )

    # The handler returned long before the model could have finished on its own.
    assert time.monotonic() - started < len(LONG_REPLY) * WORD_DELAY / 2
    assert exchange.status == 200
    assert exchange.headers[b"Content-Type"].startswith(b"text/event-stream")
    wire_types = [event["type"] for event in exchange.events]
    assert "stream_complete" not in wire_types
    assert "error" not in wire_types

    # The model's stream was stopped part-way, by cancellation, not run to its end.
    await asyncio.wait_for(stream.ended.wait(), timeout=2)
    assert not stream.completed
    assert stream.cancelled or stream.closed
    assert 2 <= stream.deltas_yielded < len(LONG_REPLY)

    # Nothing keeps running on the loop: no run loop task, no lease renewer.
    leftovers = await wait_until_no_other_tasks(within=2)
    assert not leftovers, f"tasks still running after the client left: {leftovers}"

    # The conversation is free again and holds no completed reply for the abandoned turn.
    conversation = await stored_conversation("cancel-me")
    assert conversation.active_run is None
    assert conversation.run_lease_until is None
    assert not completed_reply_stored(await stored_items("cancel-me"), LONG_REPLY)


async def test_next_turn_runs_right_after_an_abandoned_stream(use_scripted_model):
    """The released lease is real: the same session takes a new run immediately."""
    stream = SlowModelStream(words=LONG_REPLY)
    use_scripted_model([ModelStep.stream(stream), ModelStep.stream(SlowModelStream(["Hi "]))])

    await post_stream(
        {"input": "Abandon me", "session_id": "cancel-then-run"}, disconnect_after_deltas=1
    )
    exchange = await post_stream({"input": "Back again", "session_id": "cancel-then-run"})

    assert exchange.status == 200
    assert exchange.events[-1]["type"] == "stream_complete"
    assert exchange.events[-1]["final_output"] == "Hi "
    items = await stored_items("cancel-then-run")
    assert items[-1][0] == "assistant"
    assert '"Hi "' in items[-1][1]
    assert not completed_reply_stored(items, LONG_REPLY)
