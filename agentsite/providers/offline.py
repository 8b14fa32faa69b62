"""The offline model: a deterministic ``Model`` that streams like the Responses API.

Chosen when no OpenAI key is configured (or ``MODEL_PROVIDER=offline``). What it says is decided
in ``offline_replies``; this module turns that into the same stream of Responses events a real
model produces (text deltas word by word, function-call argument deltas, usage), so every layer
above it, down to the wire protocol, runs exactly as in production.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import ModelResponse, TResponseInputItem, TResponseStreamEvent
from agents.model_settings import ModelSettings
from agents.models.interface import Model, ModelProvider, ModelTracing
from agents.tool import Tool
from agents.usage import Usage
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from agentsite.providers.offline_replies import ReplyPlan, plan_reply

OFFLINE_MODEL_NAME = "offline"
_ids = itertools.count(1)
_WORDS = re.compile(r"\S+\s*|\s+")


class OfflineModel(Model):
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        **_: Any,
    ) -> ModelResponse:
        response = _response(_plan(input, tools, handoffs, output_schema), input)
        return ModelResponse(
            output=list(response.output), usage=_usage(response), response_id=response.id
        )

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        **_: Any,
    ) -> AsyncIterator[TResponseStreamEvent]:
        response = _response(_plan(input, tools, handoffs, output_schema), input)
        for event in _stream_events(response):
            if self.delay and event.type in (
                "response.output_text.delta",
                "response.function_call_arguments.delta",
            ):
                await asyncio.sleep(self.delay)
            yield event


class OfflineProvider(ModelProvider):
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def get_model(self, model_name: str | None) -> Model:
        return OfflineModel(delay=self.delay)


def _plan(
    input: str | list[TResponseInputItem],
    tools: list[Tool],
    handoffs: list[Handoff],
    output_schema: AgentOutputSchemaBase | None,
) -> ReplyPlan:
    items: list[TResponseInputItem] = (
        [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
    )
    schema = None
    if output_schema is not None and not output_schema.is_plain_text():
        schema = output_schema.json_schema()
    return plan_reply(items, tools, handoffs, schema)


def _response(plan: ReplyPlan, input: str | list[TResponseInputItem]) -> Response:
    number = next(_ids)
    output: list[Any]
    if plan.tool_call is not None:
        output = [
            ResponseFunctionToolCall(
                id=f"fc_offline_{number}",
                call_id=f"call_offline_{number}",
                type="function_call",
                name=plan.tool_call.name,
                arguments=plan.tool_call.arguments,
                status="completed",
            )
        ]
        produced = plan.tool_call.arguments
    else:
        text = plan.text or ""
        output = [
            ResponseOutputMessage(
                id=f"msg_offline_{number}",
                type="message",
                role="assistant",
                status="completed",
                content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
            )
        ]
        produced = text
    input_tokens = _estimate_tokens(str(input))
    output_tokens = _estimate_tokens(produced)
    return Response(
        id=f"resp_offline_{number}",
        created_at=time.time(),
        model=OFFLINE_MODEL_NAME,
        object="response",
        output=output,
        tool_choice="auto",
        tools=[],
        top_p=None,
        parallel_tool_calls=False,
        status="completed",
        usage=ResponseUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
            input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        ),
    )


def _stream_events(response: Response) -> list[TResponseStreamEvent]:
    """The Responses event sequence for a finished response, text split word by word."""
    seq = itertools.count()
    started = response.model_copy(update={"output": [], "status": "in_progress", "usage": None})
    events: list[Any] = [
        ResponseCreatedEvent(type="response.created", response=started, sequence_number=next(seq)),
        ResponseInProgressEvent(
            type="response.in_progress", response=started, sequence_number=next(seq)
        ),
    ]
    for index, item in enumerate(response.output):
        if isinstance(item, ResponseFunctionToolCall):
            pending = item.model_copy(update={"arguments": "", "status": "in_progress"})
            events += [
                ResponseOutputItemAddedEvent(
                    type="response.output_item.added",
                    item=pending,
                    output_index=index,
                    sequence_number=next(seq),
                ),
                ResponseFunctionCallArgumentsDeltaEvent(
                    type="response.function_call_arguments.delta",
                    item_id=item.id or "",
                    output_index=index,
                    delta=item.arguments,
                    sequence_number=next(seq),
                ),
                ResponseFunctionCallArgumentsDoneEvent(
                    type="response.function_call_arguments.done",
                    item_id=item.id or "",
                    output_index=index,
                    arguments=item.arguments,
                    sequence_number=next(seq),
                ),
            ]
        elif isinstance(item, ResponseOutputMessage):
            events += _message_events(item, index, seq)
        events.append(
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                item=item,
                output_index=index,
                sequence_number=next(seq),
            )
        )
    events.append(
        ResponseCompletedEvent(
            type="response.completed", response=response, sequence_number=next(seq)
        )
    )
    return events


def _message_events(
    item: ResponseOutputMessage, index: int, seq: itertools.count[int]
) -> list[Any]:
    part = item.content[0]
    text = part.text if isinstance(part, ResponseOutputText) else ""
    empty = ResponseOutputText(type="output_text", text="", annotations=[])
    events: list[Any] = [
        ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=item.model_copy(update={"content": [], "status": "in_progress"}),
            output_index=index,
            sequence_number=next(seq),
        ),
        ResponseContentPartAddedEvent(
            type="response.content_part.added",
            item_id=item.id,
            output_index=index,
            content_index=0,
            part=empty,
            sequence_number=next(seq),
        ),
    ]
    events += [
        ResponseTextDeltaEvent(
            type="response.output_text.delta",
            item_id=item.id,
            output_index=index,
            content_index=0,
            delta=word,
            logprobs=[],
            sequence_number=next(seq),
        )
        for word in _WORDS.findall(text)
    ]
    events += [
        ResponseTextDoneEvent(
            type="response.output_text.done",
            item_id=item.id,
            output_index=index,
            content_index=0,
            text=text,
            logprobs=[],
            sequence_number=next(seq),
        ),
        ResponseContentPartDoneEvent(
            type="response.content_part.done",
            item_id=item.id,
            output_index=index,
            content_index=0,
            part=part,
            sequence_number=next(seq),
        ),
    ]
    return events


def _usage(response: Response) -> Usage:
    usage = response.usage
    if usage is None:
        return Usage(requests=1)
    return Usage(
        requests=1,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
    )


def _estimate_tokens(text: str) -> int:
    """About four characters a token, as OpenAI's tokenizers average on English."""
    return max(1, len(text) // 4)
