"""The floor: the least any HTTP server can do to serve the baseline's runs as SSE, under daphne.

A bare ASGI application — no Django, no Channels, no agentsite request handling — that answers
``POST /chat/stream`` exactly as far as the bench client can tell: it reads the JSON body, runs
``Runner.run_streamed`` with the SDK's ``SQLiteSession`` (as the baseline does), encodes every
event with agentsite's own wire encoder (``agentsite.runs.events``) and writes one SSE ``data:``
line
per event, ending with ``stream_complete``. Nothing is validated, nothing is persisted beyond
the SDK's session, no run ledger, no resumable event log, no lease.

The throughput bench serves it with the same daphne command as agentsite. Its ratio to the
SDK-alone baseline is therefore the best the 0.9 target can reach on this machine with daphne and
HTTP; the gap between it and agentsite is what agentsite itself costs.

``python -m daphne bench.floor:application`` with ``BENCH_UPSTREAM`` (the OpenAI-protocol
server's base URL) and ``BENCH_SESSION_FILE`` (the SQLiteSession file) in the environment.
"""

from __future__ import annotations

import json
import os
from typing import Any

from agents import Runner, SQLiteSession
from agents.models.openai_responses import OpenAIResponsesModel
from openai import AsyncOpenAI

from agentsite.runs.events import EventEncoder, stream_complete
from bench.upstream import MODEL
from chat.agents import chat_agent

_client = AsyncOpenAI(
    api_key="sk-bench", base_url=os.environ["BENCH_UPSTREAM"], timeout=600, max_retries=0
)
_agent = chat_agent.clone(model=OpenAIResponsesModel(model=MODEL, openai_client=_client))
_session_file = os.environ["BENCH_SESSION_FILE"]
_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":  # daphne does not send it; other servers may
        return
    if scope["type"] != "http":
        return
    if scope["path"] == "/health":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    request = json.loads(body)
    session_id = request["session_id"]
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    encoder = EventEncoder(MODEL)
    result = Runner.run_streamed(
        _agent, request["input"], session=SQLiteSession(session_id, _session_file)
    )
    async for event in result.stream_events():
        wire = encoder.encode(event)
        if wire is not None:
            await send({"type": "http.response.body", "body": _sse(wire), "more_body": True})
    last = stream_complete(
        result.final_output, result.current_turn, result.context_wrapper.usage, session_id
    )
    await send({"type": "http.response.body", "body": _sse(last)})
