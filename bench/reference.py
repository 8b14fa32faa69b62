"""The reference: a small FastAPI service doing what the replaced FastAPI app did, under uvicorn.

``POST /{agent}/stream`` with ``{"input", "session_id"}``: ``Runner.run_streamed`` with the
SDK's own ``SQLiteSession`` (one file, one session per ``session_id``), every SDK event turned
into the object of DESIGN §5 — the keys the FastAPI app sent, built here by its own small
functions (not agentsite's encoder) — and written as ``data: <json>`` plus a blank line, ended by
``stream_complete``. No validation beyond FastAPI's, no run ledger, no resumable event log, no
lease: what the replaced service cost per stream, which agentsite must beat.

``python -m uvicorn bench.reference:app`` (uvloop and httptools, as ``uvicorn[standard]``
picks them) with ``BENCH_UPSTREAM`` (the OpenAI-protocol server's base URL) and
``BENCH_SESSION_FILE`` (the SQLiteSession file) in the environment; ``GET /health`` answers
when it is up.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from agents import Agent, Runner, SQLiteSession
from agents.models.openai_responses import OpenAIResponsesModel
from agents.stream_events import AgentUpdatedStreamEvent, RawResponsesStreamEvent
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from openai import AsyncOpenAI
from pydantic import BaseModel

from bench.upstream import MODEL
from chat.agents import chat_agent

_client = AsyncOpenAI(
    api_key="sk-bench", base_url=os.environ["BENCH_UPSTREAM"], timeout=600, max_retries=0
)
_agent = chat_agent.clone(model=OpenAIResponsesModel(model=MODEL, openai_client=_client))
_session_file = os.environ["BENCH_SESSION_FILE"]

app = FastAPI(title="reference")


class StreamRequest(BaseModel):
    input: str
    session_id: str | None = None


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/{agent}/stream")
async def stream(agent: str, request: StreamRequest) -> StreamingResponse:
    return StreamingResponse(
        _events(request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "Connection": "keep-alive"},
    )


async def _events(request: StreamRequest) -> AsyncIterator[str]:
    session = SQLiteSession(request.session_id, _session_file) if request.session_id else None
    try:
        result = Runner.run_streamed(_agent, request.input, session=session)
        async for event in result.stream_events():
            yield _sse(format_event(event))
        usage = result.context_wrapper.usage
        yield _sse(
            {
                "type": "stream_complete",
                "final_output": str(result.final_output),
                "current_turn": result.current_turn,
                "usage": {
                    "requests": usage.requests,
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "total_tokens": usage.total_tokens,
                },
                "session_id": request.session_id,
            }
        )
    except Exception as exc:
        yield _sse(
            {
                "type": "error",
                "message": str(exc),
                "timestamp": datetime.now(UTC).isoformat(),
                "session_id": request.session_id,
            }
        )


def _sse(event: dict[str, Any]) -> str:
    return f"data: {json.dumps(event)}\n\n"


def format_event(event: Any) -> dict[str, Any]:
    """One SDK stream event as the replaced app sent it (DESIGN §5 keys)."""
    if isinstance(event, RawResponsesStreamEvent):
        return _raw_response(event.data)
    if isinstance(event, AgentUpdatedStreamEvent):
        return _agent_updated(event.new_agent)
    if event.type == "run_item_stream_event":
        return _run_item(event)
    return {"type": "unknown_event", "event_class": type(event).__name__, "data": str(event)}


def _agent_updated(agent: Agent[Any]) -> dict[str, Any]:
    instructions = agent.instructions
    return {
        "type": "agent_updated",
        "agent_name": agent.name,
        "agent_instructions": instructions
        if isinstance(instructions, str)
        else ("Dynamic instructions"),
        "model": MODEL,
        "tools_count": len(agent.tools),
        "handoffs_count": len(agent.handoffs),
    }


def _raw_response(data: Any) -> dict[str, Any]:
    kind = data.type
    wire: dict[str, Any] = {
        "type": "raw_response",
        "event_type": kind,
        "sequence_number": getattr(data, "sequence_number", None),
    }
    if kind == "response.output_text.delta":
        wire.update(
            delta=data.delta,
            content_index=data.content_index,
            item_id=data.item_id,
            output_index=data.output_index,
        )
    elif kind in ("response.created", "response.completed"):
        wire.update(response_id=data.response.id, status=data.response.status)
    elif kind in ("response.output_item.added", "response.output_item.done"):
        wire.update(output_index=data.output_index, item_type=data.item.type)
        if data.item.type == "function_call":
            wire.update(tool_name=data.item.name, call_id=data.item.call_id)
    elif kind in ("response.content_part.added", "response.content_part.done"):
        wire.update(content_index=data.content_index, item_id=data.item_id)
    elif kind == "response.output_text.done":
        wire.update(text=data.text, content_index=data.content_index, item_id=data.item_id)
    elif kind == "response.function_call_arguments.delta":
        wire.update(delta=data.delta, function_call=True, call_id=data.item_id)
    return wire


def _run_item(event: Any) -> dict[str, Any]:
    item = event.item
    raw = item.raw_item
    wire: dict[str, Any] = {"type": "run_item", "name": event.name, "item_type": item.type}
    if item.type == "message_output_item":
        wire.update(role=raw.role, status=raw.status, message_id=raw.id)
    elif item.type == "tool_call_item":
        wire.update(
            tool_name=getattr(raw, "name", None),
            tool_arguments=getattr(raw, "arguments", None),
            call_id=getattr(raw, "call_id", None),
        )
    elif item.type == "tool_call_output_item":
        wire.update(tool_name=None, output=str(item.output), call_id=raw.get("call_id"))
    return wire
