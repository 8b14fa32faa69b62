"""Research fixtures: a small knowledge base, and a scripted model for the three agents.

``ScriptedModel`` answers calls in order, but a research run's searches call the model
concurrently, in no fixed order. ``ResearchScript`` therefore answers every call with a
responder that tells the agents apart by their instructions and the searches by their term.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import pytest
from agents.models.interface import ModelProvider
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message
from agents.usage import Usage

from research.agents import SEARCH_INSTRUCTIONS, planner_agent, writer_agent
from research.models import Document

CALL_USAGE = Usage(requests=1, input_tokens=10, output_tokens=5, total_tokens=15)
REPORT = {
    "short_summary": "Context managers wrap a block with setup and teardown.",
    "markdown_report": "# Context managers\n\nThey call __enter__ and __exit__ [1].",
    "follow_up_questions": ["How does contextlib help?"],
}
PLAN = [
    ("The statement itself", "with statement"),
    ("The protocol", "context manager enter exit"),
    ("Errors inside the block", "exception handling"),
    ("Generators as managers", "generator decorator"),
    ("Closing files", "file close"),
]
# A small knowledge base: (title, source_url, body).
DOCUMENTS = [
    (
        "The with statement",
        "https://kb.example/with",
        "The with statement wraps the execution of a block with methods defined by a context "
        "manager. The context manager's enter method runs first; its exit method runs when the "
        "block is left, even when an exception is raised.",
    ),
    (
        "Context managers",
        "https://kb.example/context-managers",
        "A context manager is an object that defines the runtime context to be established "
        "when executing a with statement: it implements enter and exit.",
    ),
    (
        "Exceptions",
        "https://kb.example/exceptions",
        "Exception handling uses try and except clauses. An exception raised inside a with "
        "block is passed to the exit method, which may suppress it.",
    ),
    (
        "Decorators",
        "https://kb.example/decorators",
        "A decorator wraps a function. The contextmanager decorator turns a generator into a "
        "context manager.",
    ),
    (
        "Files",
        "https://kb.example/files",
        "Open files should be closed; a with statement closes the file automatically.",
    ),
    (
        "Arithmetic",
        "https://kb.example/arithmetic",
        "Integers support addition, subtraction and multiplication.",
    ),
]


def upstream_error(message: str = "connection refused") -> openai.APIConnectionError:
    """What the openai client raises when the provider cannot be reached (→ HTTP 502)."""
    return openai.APIConnectionError(
        message=message, request=httpx.Request("POST", "https://api.openai.invalid/v1")
    )


def input_text(call: ModelCall) -> str:
    """The text of the last user message a model call was given."""
    if isinstance(call.input, str):
        return call.input
    for item in reversed(call.input):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, list):
                return " ".join(str(part.get("text", "")) for part in content)
            return str(content)
    return ""


def search_term(call: ModelCall) -> str:
    return input_text(call).split("\n", 1)[0].removeprefix("Search term: ").strip()


# A search's answer: its text, an exception to raise, or a whole ModelStep.
SearchOutcome = str | Exception | ModelStep
SearchBehaviour = Callable[[str, ModelCall], SearchOutcome | Awaitable[SearchOutcome]]


@dataclass
class ResearchScript:
    """How each agent answers: the plan (or an error), a search behaviour per term, the
    report (or an error). Every call is recorded as (agent, term or "")."""

    plan: list[tuple[str, str]] | Exception = field(default_factory=lambda: list(PLAN))
    search: SearchBehaviour = lambda term, call: f"Summary of {term} [1]."
    writer: dict[str, Any] | Exception = field(default_factory=lambda: dict(REPORT))
    calls: list[tuple[str, str]] = field(default_factory=list)
    model: ScriptedModel = field(init=False)

    def __post_init__(self) -> None:
        self.model = ScriptedModel([ModelStep.respond(self.respond) for _ in range(100)])

    async def respond(self, call: ModelCall) -> Any:
        if call.system_instructions == planner_agent.instructions:
            self.calls.append(("planner", ""))
            if isinstance(self.plan, Exception):
                return self.plan
            searches = [{"reason": reason, "query": query} for reason, query in self.plan]
            return self._reply(json.dumps({"searches": searches}))
        if call.system_instructions == writer_agent.instructions:
            self.calls.append(("writer", ""))
            if isinstance(self.writer, Exception):
                return self.writer
            return self._reply(json.dumps(self.writer))
        term = search_term(call)
        self.calls.append(("search", term))
        outcome = self.search(term, call)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if isinstance(outcome, Exception | ModelStep):
            return outcome
        return self._reply(outcome)

    @staticmethod
    def _reply(text: str) -> ModelStep:
        return ModelStep(output=[assistant_message(text)], usage=CALL_USAGE)

    def calls_of(self, agent: str) -> list[str]:
        return [term for name, term in self.calls if name == agent]

    def search_inputs(self) -> list[str]:
        return [
            input_text(call)
            for call in self.model.calls
            if call.system_instructions == SEARCH_INSTRUCTIONS
        ]


class FixedProvider(ModelProvider):
    def __init__(self, model: Any) -> None:
        self.model = model

    def get_model(self, model_name: str | None) -> Any:
        return self.model


@pytest.fixture
def use_research_script(monkeypatch):
    """Route research runs started through the API to a ``ResearchScript``."""
    import research.manager

    def install(script: ResearchScript) -> ResearchScript:
        provider = FixedProvider(script.model)
        monkeypatch.setattr(research.manager, "get_model_provider", lambda: provider)
        return script

    return install


@pytest.fixture
async def knowledge_base() -> list[Document]:
    return [
        await Document.objects.acreate(title=title, source_url=url, body=body)
        for title, url, body in DOCUMENTS
    ]
