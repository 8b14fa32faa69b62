"""The text of a stored SDK item, as a person (or the offline model) reads it.

One home for it: the admin's transcript and item list, a conversation's title and the offline
model's memory of earlier turns all read items through these functions. Plain functions over
the items' JSON shapes, with no Django import, so the offline model can use them too.
"""

from __future__ import annotations

import json
from typing import Any


def message_text(content: Any) -> str:
    """The text of a message's ``content``: the string itself, or the text (or refusal) of
    each of its parts joined by spaces; parts without text (images, files) add nothing."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = (part.get("text") or part.get("refusal") for part in content if isinstance(part, dict))
    return " ".join(text for text in texts if isinstance(text, str) and text)


def item_text(item: dict[str, Any]) -> str:
    """What a person reads for one stored SDK item: message text, tool call or tool output."""
    kind = item.get("type") or "message"
    if kind == "message" or "role" in item:
        return message_text(item.get("content"))
    if kind == "function_call":
        return f"{item.get('name')}({item.get('arguments')})"
    if kind == "function_call_output":
        return f"→ {item.get('output')}"
    if kind == "reasoning":
        return " ".join(part.get("text", "") for part in item.get("summary") or [])
    return json.dumps(item, ensure_ascii=False)[:500]
