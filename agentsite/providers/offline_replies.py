"""What the offline model says: a deterministic reply worked out from the conversation.

It is no language model; it exists so the product runs with no key and no network. It still
exercises every path a real model does: plain text that echoes what the user said earlier (so
memory is visible), a function call when the user names one of the agent's tools, a handoff when
the user names a specialist, and schema-valid JSON for agents with an ``output_type``.

A message may carry material to work from: a first line naming the subject, a blank line, then
a body (passages to summarise, notes to write up). The offline model cannot summarise, so it
does the nearest honest thing and quotes the material back, trimmed: as the plain reply, and in
the long-form text fields of structured output (``summary``, ``report``, ``body``, …). Fields
that name search terms (``query``, ``keywords``, …) get the subject's key words, unlabelled, and
the items of a list each get a different selection of them, so a plan's searches differ.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from agents.handoffs import Handoff
from agents.tool import FunctionTool, Tool

from agentsite.conversations.items import message_text


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


OFFLINE_PREFIX = "[offline model]"
# How much material a plain reply and a long-form structured field quote back.
PLAIN_MATERIAL_CHARS = 4000
LONG_FORM_MATERIAL_CHARS = 8000
# Words in a field name that make it long-form text, unless it also has a "short" word.
_LONG_FORM_WORDS = _words(
    "answer article body content description details essay explanation markdown report summary text"
)
_SHORT_WORDS = _words("headline label name short title")
# Words in a field name that make it a search term: filled with bare key words.
_TERM_WORDS = _words(
    "keyword keywords queries query search searches term terms topic topics tag tags"
)
_STOP_WORDS = _words(
    "a about all an and any are as at be been but by can could did do does for from had has "
    "have how i if in into is it its me my of on or our should so than that the their them "
    "then there these they this to was we were what when where which who whom why will with "
    "would you your"
)
_SUBJECT_LABEL = re.compile(r"^[A-Za-z][\w ]{0,30}:\s+")
_KEY_WORD = re.compile(r"[^\W_][\w'-]*")
_LEADING_FILLER = re.compile(
    r"^(?:\s|[:,\-]|\b(?:tool|the|for|in|of|on|with|to|at|is|me)\b)+", re.I
)
# An arithmetic expression in a message ("what is 6*7?", "compute 12*12"): numbers joined by at
# least one operator. A tool that takes an ``expression`` gets it even when the user does not
# name the tool, as a real model would call a calculator.
_ARITHMETIC = re.compile(
    r"[-+(]*\s*\d+(?:\.\d+)?\s*\)*(?:\s*(?:\*\*|//|[-+*/%^×])\s*[-+(]*\s*\d+(?:\.\d+)?\s*\)*)+"
)
# A request to email someone ("email bob@example.com that the report is ready"): a tool that
# takes a ``to`` gets the address, and the rest of the message as its subject and body.
_EMAIL_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_EMAIL_REQUEST = re.compile(r"\b(?:e-?mail|mail|write)\b", re.I)
_MESSAGE_LEAD = re.compile(
    r"^(?:\s|[:,\-]|\b(?:that|saying|to say|and say|and tell them)\b)+", re.I
)
# A request for a long answer ("tell me a long story"): the reply is a story of a few hundred
# words, so that streaming, resuming and cancelling can be watched at OFFLINE_MODEL_DELAY.
_LONG_ANSWER = re.compile(r"\b(?:story|long|essay)\b", re.I)


@dataclass(frozen=True)
class ToolCallPlan:
    name: str
    arguments: str


@dataclass(frozen=True)
class ReplyPlan:
    """Either text or one tool call (a handoff is a tool call too)."""

    text: str | None = None
    tool_call: ToolCallPlan | None = None


def plan_reply(
    items: list[Any],
    tools: list[Tool],
    handoffs: list[Handoff],
    output_schema: dict[str, Any] | None,
) -> ReplyPlan:
    user_texts = [text for role, text in _messages(items) if role == "user"]
    question = user_texts[-1] if user_texts else ""
    turn = _current_turn(items)
    calls = {
        item.get("call_id"): item.get("name")
        for item in turn
        if item.get("type") == "function_call"
    }
    called = set(calls.values())
    tool_names = {tool.name for tool in tools if isinstance(tool, FunctionTool)}
    # Outputs of this agent's own tools; a handoff's output just means "you have the floor now".
    outputs = [
        item
        for item in turn
        if item.get("type") == "function_call_output"
        and calls.get(item.get("call_id")) in tool_names
    ]

    if not outputs:
        for handoff in handoffs:
            if handoff.tool_name not in called and _mentions(question, handoff.agent_name):
                return ReplyPlan(tool_call=ToolCallPlan(handoff.tool_name, "{}"))
        email = _email_call(question, tools, called)
        if email is not None:
            return ReplyPlan(tool_call=email)
        for tool in tools:
            if isinstance(tool, FunctionTool) and tool.name not in called:
                remainder = _text_after_mention(question, tool.name)
                if remainder is not None:
                    arguments = _arguments_for(tool.params_json_schema, remainder, question)
                    return ReplyPlan(tool_call=ToolCallPlan(tool.name, json.dumps(arguments)))
        calculation = _calculation_call(question, tools, called)
        if calculation is not None:
            return ReplyPlan(tool_call=calculation)

    if output_schema is not None:
        return ReplyPlan(text=json.dumps(instance_of(output_schema, output_schema, question)))
    if outputs:
        return ReplyPlan(text=_tool_results_text(calls, outputs))
    return ReplyPlan(text=_chat_text(question, user_texts[:-1], tools))


def _calculation_call(question: str, tools: list[Tool], called: set[Any]) -> ToolCallPlan | None:
    """A call of the tool that takes an ``expression``, for arithmetic found in the message."""
    match = _ARITHMETIC.search(question)
    if match is None:
        return None
    for tool in tools:
        if (
            isinstance(tool, FunctionTool)
            and tool.name not in called
            and "expression" in tool.params_json_schema.get("properties", {})
        ):
            arguments = {"expression": match.group().strip()}
            return ToolCallPlan(tool.name, json.dumps(arguments))
    return None


def _email_call(question: str, tools: list[Tool], called: set[Any]) -> ToolCallPlan | None:
    """A call of the tool that takes a ``to``, for a message asking to email an address."""
    address = _EMAIL_ADDRESS.search(question)
    if address is None or not _EMAIL_REQUEST.search(question):
        return None
    for tool in tools:
        properties = (
            tool.params_json_schema.get("properties", {}) if isinstance(tool, FunctionTool) else {}
        )
        if "to" in properties and tool.name not in called:
            message = _MESSAGE_LEAD.sub("", question[address.end() :]).strip().rstrip(".!?")
            text = (message[:1].upper() + message[1:]) if message else "Hello"
            values = {"to": address.group(), "subject": _clip(text, 80), "body": f"{text}."}
            arguments = {name: values.get(name, "") for name in properties}
            return ToolCallPlan(tool.name, json.dumps(arguments))
    return None


def _chat_text(question: str, earlier: list[str], tools: list[Tool]) -> str:
    subject, material = subject_and_material(question)
    if material:
        quoted = _extract(material, PLAIN_MATERIAL_CHARS)
        return f"{OFFLINE_PREFIX} On “{_clip(subject)}”, from what you sent me:\n\n{quoted}"
    if _LONG_ANSWER.search(question):
        return f"{OFFLINE_PREFIX} You said: “{_clip(question)}” Here is one. {long_story()}"
    parts = [
        f"{OFFLINE_PREFIX} No OpenAI key is configured, so a built-in offline model is answering.",
        f"You said: “{_clip(question)}”" if question else "You sent no text.",
    ]
    recalled_texts = list(dict.fromkeys(text for text in earlier if text and text != question))
    if recalled_texts:
        recalled = "; ".join(f"“{_clip(text)}”" for text in recalled_texts[-3:])
        parts.append(f"Earlier in this conversation you told me: {recalled}.")
    else:
        parts.append("This is the first thing you have told me in this conversation.")
    names = [tool.name for tool in tools if isinstance(tool, FunctionTool)]
    if names:
        parts.append("Name one of my tools to see it called: " + ", ".join(names) + ".")
    return " ".join(parts)


def _tool_results_text(names: dict[Any, Any], outputs: list[dict[str, Any]]) -> str:
    results = "; ".join(
        f"`{names.get(item.get('call_id'), 'tool')}` returned {_clip(str(item.get('output')))}"
        for item in outputs
    )
    return f"{OFFLINE_PREFIX} I called my tools: {results}."


def _messages(items: list[Any]) -> list[tuple[str, str]]:
    found = []
    for item in items:
        if not isinstance(item, dict) or item.get("role") not in ("user", "assistant"):
            continue
        if isinstance(item.get("content"), str | list):
            found.append((item["role"], message_text(item["content"]).strip()))
    return found


def _current_turn(items: list[Any]) -> list[dict[str, Any]]:
    """The items after the last user message: what the agent already did this turn."""
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if isinstance(item, dict) and item.get("role") == "user":
            return [entry for entry in items[index + 1 :] if isinstance(entry, dict)]
    return [entry for entry in items if isinstance(entry, dict)]


def _name_patterns(name: str) -> list[str]:
    spaced = name.replace("_", " ")
    return [re.escape(name), re.escape(spaced)] if spaced != name else [re.escape(name)]


def _mentions(text: str, name: str) -> bool:
    return _text_after_mention(text, name) is not None


def _text_after_mention(text: str, name: str) -> str | None:
    for pattern in _name_patterns(name):
        match = re.search(rf"(?<![\w]){pattern}(?![\w])", text, re.I)
        if match:
            remainder = _LEADING_FILLER.sub("", text[match.end() :])
            return remainder.strip().rstrip("?.!").strip()
    return None


def _arguments_for(schema: dict[str, Any], remainder: str, question: str) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    arguments: dict[str, Any] = {}
    text_used = False
    for name, prop in properties.items():
        kind = prop.get("type")
        if "enum" in prop:
            arguments[name] = next(
                (value for value in prop["enum"] if str(value).lower() in question.lower()),
                prop["enum"][0],
            )
        elif kind == "string" or (isinstance(kind, list) and "string" in kind):
            arguments[name] = remainder if not text_used and remainder else prop.get("default", "")
            text_used = True
        elif kind in ("integer", "number"):
            number = re.search(r"-?\d+(?:\.\d+)?", remainder)
            value = float(number.group()) if number else prop.get("default", 0)
            arguments[name] = int(value) if kind == "integer" else value
        elif kind == "boolean":
            arguments[name] = bool(prop.get("default", False))
        else:
            arguments[name] = instance_of(prop, schema, remainder)
    return arguments


def instance_of(schema: dict[str, Any], root: dict[str, Any], seed: str, name: str = "") -> Any:
    """A value valid against a (strict, pydantic-made) JSON schema, filled from ``seed``."""
    if "$ref" in schema:
        return instance_of(_resolve(schema["$ref"], root), root, seed, name)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [option for option in schema[key] if option.get("type") != "null"]
            return instance_of(options[0] if options else {"type": "null"}, root, seed, name)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {
            key: instance_of(prop, root, seed, key)
            for key, prop in schema.get("properties", {}).items()
        }
    if kind == "array":
        count = max(schema.get("minItems", 3), 1)
        count = min(count, schema.get("maxItems", count))
        item_schema = schema.get("items", {"type": "string"})
        facets = _facets(subject_and_material(seed)[0])
        return [
            instance_of(
                item_schema,
                root,
                facets[index % len(facets)] if facets else f"{seed} ({index + 1})",
                name,
            )
            for index in range(count)
        ]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _string_for(name, seed)


def _string_for(name: str, seed: str) -> str:
    subject, material = subject_and_material(seed)
    words = set(name.lower().split("_"))
    if words & _TERM_WORDS:
        facets = _facets(subject)
        return facets[0] if facets else _clip(subject, 200)
    label = name.replace("_", " ") or "answer"
    text = f"{OFFLINE_PREFIX} {label} for: {_clip(subject, 200)}"
    if material and words & _LONG_FORM_WORDS and not words & _SHORT_WORDS:
        return f"{text}\n\n{_extract(material, LONG_FORM_MATERIAL_CHARS)}"
    return text


def subject_and_material(text: str) -> tuple[str, str]:
    """A message's subject (its first line, without a leading "Label:") and its material
    (whatever follows the first blank line; "" when there is none)."""
    head, _, rest = text.strip().partition("\n\n")
    first_line = head.strip().split("\n", 1)[0] if head.strip() else ""
    return _SUBJECT_LABEL.sub("", first_line).strip(), rest.strip()


def _facets(subject: str) -> list[str]:
    """Distinct selections of the subject's key words: all of them, each neighbouring pair,
    then each word alone, longest first."""
    words = list(
        dict.fromkeys(
            word for word in _KEY_WORD.findall(subject) if word.lower() not in _STOP_WORDS
        )
    )
    if not words:
        return []
    selections = [" ".join(words)]
    selections += [f"{first} {second}" for first, second in itertools.pairwise(words)]
    selections += sorted(words, key=len, reverse=True)
    return list(dict.fromkeys(selections))


def _extract(material: str, limit: int) -> str:
    """The material's paragraphs, spaces tidied outside fenced code (whose lines are kept as
    they are: indentation is code), cut at a line end near ``limit``."""
    text = "\n".join(_tidy_lines(material.strip().split("\n")))
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    return (text[:cut] if cut > limit // 2 else text[: limit - 1]).rstrip() + " …"


def _tidy_lines(lines: list[str]) -> Iterator[str]:
    """Lines with runs of spaces made one and blank runs made one blank line, except inside
    ``` fences."""
    in_code, blank = False, False
    for line in lines:
        if line.lstrip().startswith("```"):
            in_code = not in_code
            blank = False
            yield line.strip()
        elif in_code:
            yield line.rstrip()
        elif line.strip():
            blank = False
            yield " ".join(line.split())
        elif not blank:
            blank = True
            yield ""


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    node: Any = root
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    resolved: dict[str, Any] = node
    return resolved


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_STORY_PLACES = ("the harbour", "the cliffs", "the lamp room", "the reef")
_STORY_SENTENCES = (
    "Every evening the keeper climbed the hundred and twelve steps to {place}, counting them "
    "aloud as her mother had taught her, and every evening the count came out the same.",
    "The gulls knew her by now; they waited on the railing in a patient row, pretending not to "
    "be interested in the bread she always carried in her coat pocket.",
    "Below, the sea changed its mind a dozen times an hour, grey and then green and then a dark "
    "blue that looked almost solid, as if a person could walk across it to the next country.",
    "She wrote in the logbook what she saw: the wind, the ships, the height of the swell, and "
    "once, in small letters at the bottom of a page, that she had been happy all day.",
)


def long_story() -> str:
    """Four short chapters, about 550 words: some 11 s at the default OFFLINE_MODEL_DELAY."""
    chapters = []
    for number, place in enumerate(_STORY_PLACES, start=1):
        sentences = " ".join(sentence.format(place=place) for sentence in _STORY_SENTENCES)
        chapters.append(f"Chapter {number}. {sentences}")
    # One paragraph: a reply with no line breaks reads the same quoted inside stored JSON.
    return " ".join(chapters)
