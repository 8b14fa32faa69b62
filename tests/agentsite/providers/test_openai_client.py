"""The runs' ``openai`` client: streamed events built by their own class (the same objects the
client builds, faster), aiohttp connections, one client per event loop closed with it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from openai import AsyncOpenAI
from openai._vendor.httpx_aiohttp import Httpx2AiohttpClient
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent

from agentsite.providers import openai_client
from agentsite.providers.openai_client import LoopProvider, StreamingOpenAI, streaming_client
from tests.support.fake_openai import FakeOpenAI
from tests.support.openai_wire import ChatShape, FunctionCall, ResponsesShape, Text

pytest_plugins = ["tests.support.openai_fixtures"]

REPLIES = [
    Text("Hello there, how are you?"),
    FunctionCall("get_weather", '{"city": "Paris", "unit": "celsius"}', "call_1"),
]


def streamed_payloads(shape: ResponsesShape | ChatShape, reply: Text | FunctionCall) -> list[Any]:
    """The JSON of every event the fake streams for ``reply`` ([DONE] left out)."""
    payloads = []
    for block, _ in shape.stream(reply, include_usage=True):
        for line in block.decode().splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                payloads.append(json.loads(line.removeprefix("data: ")))
    return payloads


def built_both_ways(data: Any, cast_to: Any) -> tuple[Any, Any]:
    client = StreamingOpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    ours = client._process_response_data(data=data, cast_to=cast_to, response=None)  # type: ignore[arg-type]
    theirs = AsyncOpenAI._process_response_data(client, data=data, cast_to=cast_to, response=None)  # type: ignore[arg-type]
    return ours, theirs


def assert_same(ours: Any, theirs: Any) -> None:
    assert type(ours) is type(theirs)
    assert ours.model_dump(warnings=False) == theirs.model_dump(warnings=False)
    assert ours.model_fields_set == theirs.model_fields_set


@pytest.mark.parametrize("reply", REPLIES, ids=["text", "function-call"])
@pytest.mark.parametrize(
    ("shape", "cast_to"),
    [
        (ResponsesShape(1, "gpt-5-mini"), ResponseStreamEvent),
        (ChatShape(1, "gpt-5-mini"), ChatCompletionChunk),
    ],
    ids=["responses", "chat_completions"],
)
def test_every_streamed_event_is_the_object_the_client_builds(shape, cast_to, reply):
    payloads = streamed_payloads(shape, reply)
    assert len(payloads) >= 4

    for data in payloads:
        assert openai_client.event_class(cast_to, data) is not None, data
        assert_same(*built_both_ways(data, cast_to))


@pytest.mark.parametrize(
    "data",
    [
        # Its class wants a string delta: the client's lenient path builds it as it always has.
        {
            "type": "response.output_text.delta",
            "delta": 5,
            "item_id": "m",
            "output_index": 0,
            "content_index": 0,
            "sequence_number": 1,
            "logprobs": [],
        },
        # A type this version of the client does not know.
        {"type": "response.from_the_future", "sequence_number": 1, "anything": [1, 2]},
    ],
    ids=["refused-by-its-class", "unknown-type"],
)
def test_an_event_the_fast_path_cannot_build_goes_the_clients_way(data):
    assert_same(*built_both_ways(data, ResponseStreamEvent))


@pytest.mark.django_db(transaction=True)
async def test_a_streamed_reply_goes_through_the_fast_path(
    fake_openai: FakeOpenAI, openai_api: str, monkeypatch
):
    """Through the whole stack with the real client: a renamed or unused hook fails here."""
    classes: list[str] = []
    real = openai_client.event_class

    def recording(cast_to: Any, data: Any) -> Any:
        found = real(cast_to, data)
        classes.append(getattr(found, "__name__", "none"))
        return found

    monkeypatch.setattr(openai_client, "event_class", recording)
    fake_openai.text("Fast path words")

    response = await AsyncClient().post(
        "/chat/stream", {"input": "hi"}, content_type="application/json"
    )
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()

    assert "stream_complete" in body
    assert len(classes) >= 5
    assert "none" not in classes
    expected = "ResponseTextDeltaEvent" if openai_api == "responses" else "ChatCompletionChunk"
    assert expected in classes


def test_aiohttp_makes_the_connections_unless_httpx_is_chosen():
    assert isinstance(streaming_client("aiohttp", api_key="k")._client, Httpx2AiohttpClient)
    assert not isinstance(streaming_client("httpx", api_key="k")._client, Httpx2AiohttpClient)


def test_each_event_loop_has_its_own_client_closed_when_the_loop_ends():
    made: list[AsyncOpenAI] = []

    def make() -> AsyncOpenAI:
        made.append(streaming_client("aiohttp", api_key="k", base_url="http://127.0.0.1:9/v1"))
        return made[-1]

    provider = LoopProvider(make, use_responses=True)

    async def use_twice() -> int:
        provider.get_model("gpt-5-mini")
        provider.get_model("gpt-5-mini")
        await asyncio.sleep(0)
        return provider.loops()

    assert asyncio.run(use_twice()) == 1
    assert async_to_sync(use_twice)() == 1
    assert len(made) == 2, "one client per loop, reused within it"
    assert provider.loops() == 0, "a finished loop's client is forgotten"
    assert all(client.is_closed() for client in made)


def test_the_client_version_whose_internal_hook_it_overrides():
    """``_process_response_data`` and the vendored aiohttp transport are the ``openai``
    package's internals (house style: pin what a private API relies on). A new major version
    must be checked against this module before the pin moves."""
    import inspect

    import openai
    from packaging.version import Version

    assert Version("3.57") <= Version(openai.__version__) < Version("4")
    hook = inspect.signature(AsyncOpenAI._process_response_data)
    assert list(hook.parameters) == ["self", "data", "cast_to", "response"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(hook.parameters.values())[1:])
