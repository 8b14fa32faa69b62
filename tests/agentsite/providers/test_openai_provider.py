"""The production path: agentsite → Agents SDK → real ``openai`` client → HTTP, against a local
fake of the OpenAI API (tests/support/fake_openai.py), in both ``OPENAI_API`` modes."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from agentsite.asgi import application
from agentsite.conversations.session import DjangoSession
from agentsite.logs import JsonFormatter, RedactingFormatter
from tests.agentsite.web.contract import assert_event_keys
from tests.support.fake_openai import INVALID_API_KEY, FakeOpenAI, MalformedStream, closed_port
from tests.support.openai_wire import INPUT_TOKENS, OUTPUT_TOKENS
from tests.support.sse import parse_sse

pytest_plugins = ["tests.support.openai_fixtures"]
pytestmark = pytest.mark.django_db(transaction=True)


async def run(client: AsyncClient, agent: str, text: str, session_id: str) -> tuple[int, Any]:
    response = await client.post(
        f"/{agent}/run", {"input": text, "session_id": session_id}, content_type="application/json"
    )
    return response.status_code, response.json()


async def stream(client: AsyncClient, agent: str, text: str, session_id: str) -> list[dict]:
    """The run's SSE events, each checked against the wire contract; exactly one terminal
    event (``stream_complete`` or ``error``) and it comes last."""
    response = await client.post(
        f"/{agent}/stream",
        {"input": text, "session_id": session_id},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    events = parse_sse(b"".join([chunk async for chunk in response.streaming_content]))
    for event in events:
        assert_event_keys(event)
    terminal = [e["type"] for e in events if e["type"] in ("stream_complete", "error")]
    assert terminal == [events[-1]["type"]], terminal
    return events


async def stored(client: AsyncClient, agent: str, session_id: str) -> list[dict]:
    response = await client.get(f"/{agent}/session/{session_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["message_count"] == len(body["messages"])
    return body["messages"]


def text_of(item: dict) -> str:
    content = item.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content)
    return content or ""


def roles_and_texts(items: list[dict]) -> list[tuple[str, str]]:
    return [(item.get("role") or item["type"], text_of(item)) for item in items]


def run_items(events: list[dict], name: str) -> list[dict]:
    return [e for e in events if e["type"] == "run_item" and e["name"] == name]


def usage(requests: int) -> dict[str, int]:
    return {
        "requests": requests,
        "input_tokens": requests * INPUT_TOKENS,
        "output_tokens": requests * OUTPUT_TOKENS,
        "total_tokens": requests * (INPUT_TOKENS + OUTPUT_TOKENS),
    }


API_PATHS = {"responses": "/v1/responses", "chat_completions": "/v1/chat/completions"}

# --- conversations that work -----------------------------------------------------------------


async def test_two_turn_memory(client, fake_openai: FakeOpenAI, openai_api, settings):
    first, second = "Hi, my name is Ada and I work as a nurse.", "What work do I do?"
    reply_1, reply_2 = "Nice to meet you, Ada!", "You work as a nurse."
    fake_openai.text(reply_1)
    fake_openai.text(reply_2)

    events = await stream(client, "chat", first, "mem-1")
    status, body = await run(client, "chat", second, "mem-1")

    assert events[0]["type"] == "agent_updated"
    assert events[0]["agent_name"] == "Chat"
    assert events[0]["model"] == settings.AGENT_MODEL
    deltas = [e["delta"] for e in events if e.get("event_type") == "response.output_text.delta"]
    assert len(deltas) > 1, "the reply arrives as several deltas"
    assert "".join(deltas) == reply_1
    [message] = run_items(events, "message_output_created")
    assert (message["role"], message["status"]) == ("assistant", "completed")
    done = events[-1]
    assert done["type"] == "stream_complete"
    assert (done["final_output"], done["session_id"], done["current_turn"]) == (
        reply_1,
        "mem-1",
        1,
    )
    assert status == 200
    assert body["success"] is True
    assert body["error"] is None
    assert (body["final_output"], body["session_id"]) == (reply_2, "mem-1")
    assert body["usage"] == usage(1)

    assert not any(exchange.aborted for exchange in fake_openai.exchanges)
    turn_1, turn_2 = fake_openai.requests
    assert [r.path for r in (turn_1, turn_2)] == [API_PATHS[openai_api]] * 2
    # /run drives the same streamed, cancellable run as /stream (one code path, one ledger).
    assert (turn_1.stream, turn_2.stream) == (True, True)
    assert turn_1.headers["authorization"] == "Bearer sk-test"
    assert turn_2.body["model"] == settings.AGENT_MODEL
    assert [pair for pair in turn_2.transcript() if pair[0] != "system"] == [
        ("user", first),
        ("assistant", reply_1),
        ("user", second),
    ]
    assert roles_and_texts(await stored(client, "chat", "mem-1")) == [
        ("user", first),
        ("assistant", reply_1),
        ("user", second),
        ("assistant", reply_2),
    ]


async def test_stream_reports_token_usage(client, fake_openai: FakeOpenAI):
    """A streamed run's usage is the model's, in both APIs: Chat Completions only reports
    usage in a stream when the request asks for it (``stream_options.include_usage``)."""
    fake_openai.text("Hello.")
    events = await stream(client, "chat", "Hello", "usage-1")
    [sent] = fake_openai.requests
    assert events[-1]["usage"] == usage(1), f"stream_options: {sent.body.get('stream_options')}"


async def test_tool_call(client, fake_openai: FakeOpenAI):
    call_id = fake_openai.function_call("calculate", {"expression": "2*(3+4)"})
    fake_openai.text("2*(3+4) is 14.")

    events = await stream(client, "assistant", "What is 2*(3+4)?", "tool-1")

    [called] = run_items(events, "tool_called")
    assert called["tool_name"] == "calculate"
    assert json.loads(called["tool_arguments"]) == {"expression": "2*(3+4)"}
    assert called["call_id"] == call_id
    [output] = run_items(events, "tool_output")
    assert (output["output"], output["call_id"]) == ("14", call_id)
    assert events.index(called) < events.index(output)
    arguments = [
        e for e in events if e.get("event_type") == "response.function_call_arguments.delta"
    ]
    assert len(arguments) > 1, "the arguments arrive in fragments"
    assert {e["call_id"] for e in arguments} == {call_id}
    assert "".join(e["delta"] for e in arguments) == called["tool_arguments"]
    done = events[-1]
    assert (done["type"], done["final_output"], done["current_turn"]) == (
        "stream_complete",
        "2*(3+4) is 14.",
        2,
    )
    first, second = fake_openai.requests
    assert {"calculate", "current_time", "transfer_to_math_specialist"} <= set(first.tool_names())
    assert first.tool_outputs() == {}
    assert second.tool_outputs() == {call_id: "14"}
    kinds = [item.get("type", "message") for item in await stored(client, "assistant", "tool-1")]
    assert kinds == ["message", "function_call", "function_call_output", "message"]


async def test_tool_call_over_run(client, fake_openai: FakeOpenAI):
    call_id = fake_openai.function_call("calculate", {"expression": "2*(3+4)"})
    fake_openai.text("It is 14.")

    status, body = await run(client, "assistant", "What is 2*(3+4)?", "tool-2")

    assert (status, body["success"], body["final_output"]) == (200, True, "It is 14.")
    assert body["usage"] == usage(2)
    first, second = fake_openai.requests
    assert (first.stream, second.stream) == (True, True)
    assert second.tool_outputs() == {call_id: "14"}
    items = await stored(client, "assistant", "tool-2")
    call = next(item for item in items if item.get("type") == "function_call")
    assert (call["name"], call["call_id"]) == ("calculate", call_id)
    assert json.loads(call["arguments"]) == {"expression": "2*(3+4)"}


async def test_handoff(client, fake_openai: FakeOpenAI):
    fake_openai.function_call("transfer_to_math_specialist", {})
    fake_openai.text("Let me explain the steps.")

    events = await stream(client, "assistant", "Explain 12*12 step by step", "handoff-1")

    [requested] = run_items(events, "handoff_requested")
    [occurred] = run_items(events, "handoff_occured")
    for item in (requested, occurred):
        assert (item["target_agent"], item["previous_agent"]) == ("Math Specialist", "Assistant")
    agents = [e["agent_name"] for e in events if e["type"] == "agent_updated"]
    assert agents == ["Assistant", "Math Specialist"]
    specialist = next(e for e in events if e.get("agent_name") == "Math Specialist")
    assert (specialist["tools_count"], specialist["handoffs_count"]) == (1, 0)
    assert events[-1]["final_output"] == "Let me explain the steps."
    _, second = fake_openai.requests
    assert second.transcript()[0][1].startswith("You are a math specialist.")
    assert second.tool_names() == ["calculate"]


# --- upstream failures -----------------------------------------------------------------------


async def start_conversation(client: AsyncClient, fake: FakeOpenAI, session_id: str) -> list[dict]:
    """One good turn, so a failure has earlier items it must not disturb."""
    fake.text("Hello Ada.")
    status, _ = await run(client, "chat", "Hi, I am Ada.", session_id)
    assert status == 200
    items = await stored(client, "chat", session_id)
    assert len(items) == 2
    return items


async def fail_turn(client: AsyncClient, transport: str, session_id: str) -> str:
    """Run a turn that the model provider makes fail; the error message the client got."""
    if transport == "run":
        status, body = await run(client, "chat", "And now?", session_id)
        assert status == 502
        assert body["success"] is False
        assert body["session_id"] == session_id
        assert body["final_output"] is None
        return body["error"]
    events = await stream(client, "chat", "And now?", session_id)
    error = events[-1]
    assert error["type"] == "error"
    assert error["session_id"] == session_id
    assert error["status"] == 502
    return error["message"]


async def assert_history_survived(
    client: AsyncClient, fake: FakeOpenAI, session_id: str, before: list[dict]
) -> None:
    """The failed turn's user message is kept after the earlier items (the SDK stores the
    turn's input before calling the model), nothing else is; and the next turn works and
    sends the model the whole history."""
    after = await stored(client, "chat", session_id)
    assert after == [*before, {"role": "user", "content": "And now?"}]
    fake.text("Back again.")
    status, body = await run(client, "chat", "Are you back?", session_id)
    assert (status, body["final_output"]) == (200, "Back again.")
    sent = [pair for pair in fake.requests[-1].transcript() if pair[0] != "system"]
    assert sent == [*roles_and_texts(after), ("user", "Are you back?")]


@pytest.mark.parametrize("transport", ["run", "stream"])
async def test_upstream_http_500(client, fake_openai: FakeOpenAI, transport):
    before = await start_conversation(client, fake_openai, "err-500")
    fake_openai.http_error(500)

    message = await fail_turn(client, transport, "err-500")

    assert "500" in message
    await assert_history_survived(client, fake_openai, "err-500", before)
    assert len(fake_openai.requests) == 3, "a failed turn is not retried"


async def test_stream_cut_mid_delta(client, fake_openai: FakeOpenAI):
    before = await start_conversation(client, fake_openai, "err-cut")
    fake_openai.cut_stream("This answer will never be finished.", after_deltas=2)

    events = await stream(client, "chat", "And now?", "err-cut")

    deltas = [e["delta"] for e in events if e.get("event_type") == "response.output_text.delta"]
    assert "".join(deltas) == "This answer "
    assert events[-1]["type"] == "error"
    assert events[-1]["status"] == 502
    assert not run_items(events, "message_output_created")
    assert fake_openai.exchanges[1].aborted is False, "the server hung up, not the client"
    await assert_history_survived(client, fake_openai, "err-cut", before)
    assert len(fake_openai.requests) == 3


async def test_stream_cut_mid_delta_over_run(client, fake_openai: FakeOpenAI):
    """/run drives the same streamed request: a cut stream is a 502 there too, and the
    half-received reply is not stored as if it were the answer."""
    before = await start_conversation(client, fake_openai, "err-cut-run")
    fake_openai.cut_stream("This answer will never be finished.", after_deltas=2)

    message = await fail_turn(client, "run", "err-cut-run")

    assert "connection to the model provider failed" in message, message
    await assert_history_survived(client, fake_openai, "err-cut-run", before)
    assert len(fake_openai.requests) == 3


@pytest.mark.parametrize("transport", ["run", "stream"])
async def test_connection_refused(client, fake_openai: FakeOpenAI, settings, transport):
    before = await start_conversation(client, fake_openai, "err-refused")
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{closed_port()}/v1"

    message = await fail_turn(client, transport, "err-refused")

    assert "connection to the model provider failed" in message
    settings.OPENAI_BASE_URL = fake_openai.base_url
    await assert_history_survived(client, fake_openai, "err-refused", before)
    assert len(fake_openai.requests) == 2, "the refused turn never reached the server"


@pytest.mark.parametrize("after_deltas", [0, 1], ids=["before-first-byte", "mid-stream"])
@pytest.mark.parametrize("transport", ["run", "stream"])
async def test_stall_past_timeout(
    client, fake_openai: FakeOpenAI, settings, transport, after_deltas: int
):
    """A provider that stalls, mid-stream or before it answers at all, times out: 502,
    history intact, the next turn works."""
    before = await start_conversation(client, fake_openai, "err-stall")
    settings.OPENAI_TIMEOUT = 0.3
    fake_openai.stall(5.0, after_deltas=after_deltas)

    message = await fail_turn(client, transport, "err-stall")

    assert "timed out" in message
    async with asyncio.timeout(5):
        stalled = await fake_openai.finished(1)
    assert stalled.aborted, "the client hung up on the stalled answer"
    await assert_history_survived(client, fake_openai, "err-stall", before)
    assert len(fake_openai.requests) == 3


# --- what a client learns of a provider failure ---------------------------------------------


async def failed_turn_error(client: AsyncClient, transport: str, session_id: str) -> dict:
    """The error a client gets for a turn the provider makes fail: /run's body, the stream's
    last event or the WebSocket's ``error`` frame, with ``message`` and ``code``."""
    if transport == "websocket":
        socket = WebsocketCommunicator(
            application,
            "/ws/chat/",
            headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")],
        )
        assert (await socket.connect())[0]
        await socket.send_json_to({"type": "run", "input": "And now?", "session_id": session_id})
        frame = await socket.receive_json_from(10)
        while frame["type"] not in ("error", "stream_complete"):
            frame = await socket.receive_json_from(10)
        await socket.disconnect()
        assert frame["type"] == "error" and frame["status"] == 502
        assert_event_keys(frame)
        return {"message": frame["message"], "code": frame["code"], "raw": json.dumps(frame)}
    if transport == "run":
        response = await client.post(
            "/chat/run",
            {"input": "And now?", "session_id": session_id},
            content_type="application/json",
        )
        assert response.status_code == 502
        body = response.json()
        assert set(body) >= {"final_output", "success", "error", "usage", "session_id"}
        return {"message": body["error"], "code": body["code"], "raw": response.content.decode()}
    events = await stream(client, "chat", "And now?", session_id)
    raw = json.dumps(events)
    assert events[-1]["status"] == 502
    return {"message": events[-1]["message"], "code": events[-1]["code"], "raw": raw}


@pytest.mark.parametrize("transport", ["run", "stream", "websocket"])
async def test_a_rejected_key_is_a_generic_error_and_the_key_stays_in_no_answer_or_log(
    client, fake_openai: FakeOpenAI, transport, caplog
):
    """OpenAI's 401 quotes the key it was given ("Incorrect API key provided: sk-…"): the client
    gets a plain message and a code; the log gets the details, the key redacted."""
    before = await start_conversation(client, fake_openai, "err-401")
    fake_openai.enqueue(INVALID_API_KEY)

    error = await failed_turn_error(client, transport, "err-401")

    assert error["code"] == "provider_auth"
    assert error["message"] == "The model provider rejected the server's credentials"
    assert "sk-" not in error["raw"] and "Incorrect API key" not in error["raw"]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "HTTP 401" in logged and "Incorrect API key provided: sk-[redacted]" in logged
    assert "sk-test" not in logged
    await assert_history_survived(client, fake_openai, "err-401", before)


@pytest.mark.parametrize("transport", ["run", "stream", "websocket"])
async def test_malformed_json_in_the_provider_stream_is_502(
    client, fake_openai: FakeOpenAI, transport
):
    before = await start_conversation(client, fake_openai, "err-json")
    fake_openai.enqueue(MalformedStream())

    error = await failed_turn_error(client, transport, "err-json")

    assert error["code"] == "provider_bad_response"
    assert error["message"] == "The model provider sent a malformed response"
    await assert_history_survived(client, fake_openai, "err-json", before)


def test_log_lines_never_carry_a_key():
    """Whatever logs it (the SDK, a traceback), the formatters redact API keys."""
    record = logging.LogRecord(
        "openai.agents", logging.ERROR, __file__, 1, "failed with key %s", ("sk-proj-abc123",), None
    )
    try:
        raise ValueError("Incorrect API key provided: sk-test*****1234.")
    except ValueError:
        record.exc_info = sys.exc_info()
    for formatter in (RedactingFormatter("%(message)s"), JsonFormatter()):
        line = formatter.format(record)
        assert "sk-proj-abc123" not in line and "1234" not in line
        assert line.count("sk-[redacted]") >= 2


# --- a conversation that stored a lone surrogate before input was checked -------------------


async def test_a_stored_lone_surrogate_does_not_poison_the_conversation(
    client, fake_openai: FakeOpenAI
):
    """Such an item was accepted before requests were checked for lone surrogates; the openai
    client cannot encode it. Reads return it as stored; the model gets U+FFFD in its place, so
    the next turn works."""
    session = DjangoSession("poisoned", agent="chat")
    await session.add_items(
        [{"role": "user", "content": "a\ud800b"}, {"role": "assistant", "content": "Noted."}]
    )

    items = await stored(client, "chat", "poisoned")
    fake_openai.text("Still here.")
    status, body = await run(client, "chat", "Are you there?", "poisoned")

    assert items[0] == {"role": "user", "content": "a\ud800b"}
    assert (status, body["final_output"]) == (200, "Still here.")
    sent = [pair for pair in fake_openai.requests[-1].transcript() if pair[0] != "system"]
    assert sent == [("user", "a\ufffdb"), ("assistant", "Noted."), ("user", "Are you there?")]
    assert (await stored(client, "chat", "poisoned"))[0] == {"role": "user", "content": "a\ud800b"}


@pytest.mark.parametrize(
    ("status", "code", "says"),
    [
        (401, "provider_auth", "rejected the server's credentials"),
        (403, "provider_auth", "refused the server access"),
        (404, "provider_rejected", "does not know the configured model or endpoint"),
        (429, "provider_rate_limited", "rate limiting"),
        (400, "provider_rejected", "rejected the request (HTTP 400)"),
        (503, "provider_error", "failed (HTTP 503)"),
    ],
)
def test_provider_statuses_become_generic_errors_with_codes(status, code, says):
    import httpx
    import openai

    from agentsite.errors import translate_error

    request = httpx.Request("POST", "http://provider.invalid/v1/responses")
    exc = openai.APIStatusError(
        "secret detail sk-live-123", response=httpx.Response(status, request=request), body=None
    )
    error = translate_error(exc)
    assert (error.status, error.code) == (502, code)
    assert says in error.message and "secret" not in error.message
