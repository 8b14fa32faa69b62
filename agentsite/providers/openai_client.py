"""The ``openai`` client the runs stream from: its events parsed the fast way, its connections
made by aiohttp, one client per event loop.

A streamed reply is ~25 server-sent events, and the ``openai`` client turns each into its model
object through a generic path: ``construct_type`` on the ``ResponseStreamEvent`` union first
tries pydantic's validation of the whole 59-member union (its discriminator is the client's own
annotation, which pydantic does not see, so every member is tried), then walks the type hints in
Python. That is ~50 µs an event: the largest single cost of a stream in this process (Benchmarks
in the README). The event's ``type`` names its class, so ``StreamingOpenAI`` validates the data
with that class's compiled validator (~3 µs) and gives the same object the client would; data
that class does not accept (a new or malformed event) goes the client's own way, so nothing
changes but the time. Chat Completions chunks (one class) get the same treatment.

The hook, ``_process_response_data``, is the client's internal one: tests/agentsite/providers/
test_openai_client.py checks, against every event shape of the fakes, that the objects are the
client's own, and that a real stream goes through the fast path (a renamed hook fails there).

The connections: the ``openai`` package's ``DefaultAioHttpClient`` (aiohttp under its httpx
interface; ``OPENAI_HTTP_CLIENT=aiohttp``, the default) costs less CPU per chunk read than its
default httpx stack (anyio, httpcore): ~1.1 ms of a stream's 10 in the server here. aiohttp's
connections belong to the event loop that opened them, and a process has more than one loop
(the server's, ``manage.py ask``'s, one per call of a sync caller such as an admin view), so
``LoopProvider`` keeps one client per loop and closes it when that loop shuts down.
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import AsyncIterator, Callable
from functools import cache
from typing import Any

import pydantic
from agents.models.interface import Model, ModelProvider
from agents.models.openai_provider import OpenAIProvider
from openai import AsyncOpenAI, DefaultAioHttpClient
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent


@cache
def _response_event_classes() -> dict[str, type[pydantic.BaseModel]]:
    """Each Responses stream event's ``type`` → its model class."""
    union = typing.get_args(ResponseStreamEvent)[0]  # Annotated[Union[...], PropertyInfo]
    classes: dict[str, type[pydantic.BaseModel]] = {}
    for member in typing.get_args(union):
        for kind in typing.get_args(member.model_fields["type"].annotation):
            classes[kind] = member
    return classes


def event_class(cast_to: object, data: object) -> type[pydantic.BaseModel] | None:
    """The one model class ``data`` must be as a streamed event of type ``cast_to``, or None
    when it is not a streamed event this module knows."""
    if cast_to is ResponseStreamEvent and isinstance(data, dict):
        return _response_event_classes().get(data.get("type"))  # type: ignore[arg-type]
    if cast_to is ChatCompletionChunk:
        return ChatCompletionChunk
    return None


class StreamingOpenAI(AsyncOpenAI):
    """``AsyncOpenAI`` whose streamed events are built by their own class's validator."""

    def _process_response_data(self, *, data: object, cast_to: Any, response: Any) -> Any:
        model = event_class(cast_to, data)
        if model is not None:
            try:
                return model.model_validate(data)
            except pydantic.ValidationError:
                pass  # not what the class expects: the client's lenient path decides
        return super()._process_response_data(data=data, cast_to=cast_to, response=response)


HTTP_CLIENTS = ("aiohttp", "httpx")


def streaming_client(http_client: str, **options: Any) -> StreamingOpenAI:
    """A ``StreamingOpenAI`` whose connections are made by ``http_client`` (HTTP_CLIENTS)."""
    if http_client == "aiohttp":
        options["http_client"] = DefaultAioHttpClient()
    return StreamingOpenAI(**options)


class LoopProvider(ModelProvider):
    """The SDK's ``OpenAIProvider`` over one client per event loop.

    A loop's client is closed when the loop shuts down: it is tied to an async generator of
    that loop, which ``asyncio.run``, asgiref's ``async_to_sync`` and uvicorn close (running
    its ``finally``) before they close the loop. A provider dropped with its loops still running
    is closed the same way when the generators are collected.
    """

    def __init__(self, make_client: Callable[[], AsyncOpenAI], use_responses: bool) -> None:
        self._make_client = make_client
        self._use_responses = use_responses
        # loop → (its provider, the generator that closes its client, that generator's start)
        self._providers: dict[
            asyncio.AbstractEventLoop, tuple[OpenAIProvider, object, asyncio.Future[None]]
        ] = {}

    def get_model(self, model_name: str | None) -> Model:
        return self._for_running_loop().get_model(model_name)

    def _for_running_loop(self) -> OpenAIProvider:
        loop = asyncio.get_running_loop()
        found = self._providers.get(loop)
        if found is None:
            client = self._make_client()
            lifetime = self._closed_at_shutdown(loop, client)
            provider = OpenAIProvider(openai_client=client, use_responses=self._use_responses)
            # Its first step registers it with the loop's async generators.
            starting = asyncio.ensure_future(anext(lifetime))
            found = self._providers[loop] = (provider, lifetime, starting)
        return found[0]

    async def _closed_at_shutdown(
        self, loop: asyncio.AbstractEventLoop, client: AsyncOpenAI
    ) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self._providers.pop(loop, None)
            await client.close()

    def loops(self) -> int:
        """How many loops have a client now (for tests)."""
        return len(self._providers)
