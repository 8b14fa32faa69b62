"""The two OpenAI APIs on the wire, as tests/support/fake_openai.py needs them: what a reply
looks like in each (Responses events and objects, Chat Completions chunks and completions),
and what the client asked (``RecordedRequest``), read the same way whichever API it used.

Payloads follow the ``openai`` package's types (``openai.types.responses``,
``openai.types.chat``) closely enough for the client to parse them and for the Agents SDK's
models (``openai_responses.py``, ``chatcmpl_stream_handler.py``) to turn them into run items.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

Api = Literal["responses", "chat_completions"]
PATHS: dict[str, Api] = {"/v1/responses": "responses", "/v1/chat/completions": "chat_completions"}
INPUT_TOKENS = 11
OUTPUT_TOKENS = 7
"""Usage every reply reports unless the behaviour says otherwise."""


@dataclass(frozen=True)
class Usage:
    input_tokens: int = INPUT_TOKENS
    output_tokens: int = OUTPUT_TOKENS

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Text:
    """An assistant message, streamed one word per delta; ``delay`` paces the deltas."""

    text: str
    delay: float = 0.0
    usage: Usage = Usage()


@dataclass(frozen=True)
class FunctionCall:
    """One function call; its JSON arguments are streamed in a few fragments."""

    name: str
    arguments: str
    call_id: str
    usage: Usage = Usage()


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def api(self) -> Api | None:
        return PATHS.get(self.path)

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    def transcript(self) -> list[tuple[str, str]]:
        """(role, text) of every message sent, in order, whichever API shaped the body.

        Responses carries instructions outside ``input``; they come first as ``system`` so both
        APIs read the same.
        """
        if self.api == "chat_completions":
            return [
                (message["role"], _text_of(message.get("content")))
                for message in self.body.get("messages", [])
                if message.get("role") != "tool"
            ]
        pairs = []
        if self.body.get("instructions"):
            pairs.append(("system", str(self.body["instructions"])))
        items = self.body.get("input", [])
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        for item in items:
            if item.get("type", "message") == "message":
                pairs.append((item["role"], _text_of(item.get("content"))))
        return pairs

    def tool_outputs(self) -> dict[str, str]:
        """call id → output of every function result sent back to the model."""
        if self.api == "chat_completions":
            return {
                message["tool_call_id"]: _text_of(message.get("content"))
                for message in self.body.get("messages", [])
                if message.get("role") == "tool"
            }
        items = self.body.get("input", [])
        return {
            item["call_id"]: _text_of(item.get("output"))
            for item in (items if isinstance(items, list) else [])
            if item.get("type") == "function_call_output"
        }

    def tool_names(self) -> list[str]:
        names = []
        for tool in self.body.get("tools", []):
            function = tool.get("function", tool)  # chat nests the definition, Responses doesn't
            names.append(function["name"])
        return names


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text) or [""]


def _fragments(arguments: str, count: int = 3) -> list[str]:
    size = max(len(arguments) // count, 1)
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


class ResponsesShape:
    """The Responses API: a ``Response`` object and its stream of typed events."""

    def __init__(self, number: int, model: str) -> None:
        self.response_id = f"resp_{number:04d}"
        self.item_id = f"{number:04d}"
        self.model = model

    def complete(self, reply: Text | FunctionCall) -> dict[str, Any]:
        return self._response("completed", [self._item(reply, "completed")], reply.usage)

    def stream(
        self, reply: Text | FunctionCall, *, include_usage: bool
    ) -> Iterator[tuple[bytes, bool]]:
        sequence = iter(range(1_000_000))

        def event(kind: str, is_delta: bool = False, **data: Any) -> tuple[bytes, bool]:
            payload = {"type": kind, "sequence_number": next(sequence), **data}
            return f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode(), is_delta

        yield event("response.created", response=self._response("in_progress", [], None))
        yield event("response.in_progress", response=self._response("in_progress", [], None))
        started = self._item(reply, "in_progress")
        if isinstance(reply, Text):
            started["content"] = []
        else:
            started["arguments"] = ""
        yield event("response.output_item.added", output_index=0, item=started)
        done = self._item(reply, "completed")
        where = {"item_id": done["id"], "output_index": 0}
        if isinstance(reply, Text):
            part = {"type": "output_text", "text": "", "annotations": []}
            yield event("response.content_part.added", **where, content_index=0, part=part)
            for word in _words(reply.text):
                yield event(
                    "response.output_text.delta",
                    True,
                    **where,
                    content_index=0,
                    delta=word,
                    logprobs=[],
                )
            yield event(
                "response.output_text.done", **where, content_index=0, text=reply.text, logprobs=[]
            )
            part = {**part, "text": reply.text}
            yield event("response.content_part.done", **where, content_index=0, part=part)
        else:
            for fragment in _fragments(reply.arguments):
                yield event("response.function_call_arguments.delta", True, **where, delta=fragment)
            yield event(
                "response.function_call_arguments.done",
                **where,
                name=reply.name,
                arguments=reply.arguments,
            )
        yield event("response.output_item.done", output_index=0, item=done)
        yield event("response.completed", response=self._response("completed", [done], reply.usage))

    def _item(self, reply: Text | FunctionCall, status: str) -> dict[str, Any]:
        if isinstance(reply, Text):
            return {
                "id": f"msg_{self.item_id}",
                "type": "message",
                "role": "assistant",
                "status": status,
                "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
            }
        return {
            "id": f"fc_{self.item_id}",
            "type": "function_call",
            "status": status,
            "call_id": reply.call_id,
            "name": reply.name,
            "arguments": reply.arguments,
        }

    def _response(
        self, status: str, output: list[dict[str, Any]], usage: Usage | None
    ) -> dict[str, Any]:
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "error": None,
            "incomplete_details": None,
            "usage": None
            if usage is None
            else {
                "input_tokens": usage.input_tokens,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": usage.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage.total_tokens,
            },
        }


class ChatShape:
    """Chat Completions: a ``ChatCompletion`` and its ``chat.completion.chunk`` stream."""

    def __init__(self, number: int, model: str) -> None:
        self.completion_id = f"chatcmpl-{number:04d}"
        self.model = model

    def complete(self, reply: Text | FunctionCall) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if isinstance(reply, Text):
            message["content"] = reply.text
        else:
            message["tool_calls"] = [self._call(reply, reply.arguments)]
            del message["tool_calls"][0]["index"]  # only stream deltas are indexed
        choice = {"index": 0, "message": message, "finish_reason": self._finish(reply)}
        return {**self._envelope("chat.completion", [choice]), "usage": self._usage(reply.usage)}

    def stream(
        self, reply: Text | FunctionCall, *, include_usage: bool
    ) -> Iterator[tuple[bytes, bool]]:
        def chunk(delta: dict[str, Any] | None, finish: str | None = None) -> bytes:
            choices = (
                []
                if delta is None
                else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
            )
            payload = self._envelope("chat.completion.chunk", choices)
            if include_usage:
                payload["usage"] = self._usage(reply.usage) if delta is None else None
            return f"data: {json.dumps(payload)}\n\n".encode()

        if isinstance(reply, Text):
            yield chunk({"role": "assistant", "content": "", "refusal": None}), False
            for word in _words(reply.text):
                yield chunk({"content": word}), True
        else:
            yield (
                chunk(
                    {"role": "assistant", "content": None, "tool_calls": [self._call(reply, "")]}
                ),
                False,
            )
            for fragment in _fragments(reply.arguments):
                yield (
                    chunk({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}),
                    True,
                )
        yield chunk({}, self._finish(reply)), False
        if include_usage:
            yield chunk(None), False
        yield b"data: [DONE]\n\n", False

    def _envelope(self, kind: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": kind,
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
        }

    @staticmethod
    def _call(reply: FunctionCall, arguments: str) -> dict[str, Any]:
        return {
            "index": 0,
            "id": reply.call_id,
            "type": "function",
            "function": {"name": reply.name, "arguments": arguments},
        }

    @staticmethod
    def _finish(reply: Text | FunctionCall) -> str:
        return "stop" if isinstance(reply, Text) else "tool_calls"

    @staticmethod
    def _usage(usage: Usage) -> dict[str, Any]:
        return {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
        }
