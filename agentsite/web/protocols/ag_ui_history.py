"""A conversation's stored SDK items as AG-UI messages, for ``MESSAGES_SNAPSHOT``.

Message ids are the items' places in the conversation (``item-<n>``), stable from one snapshot
to the next; tool calls keep their call ids, which the tool messages name.
"""

from __future__ import annotations

from typing import Any

from agentsite.conversations.items import message_text
from agentsite.web.protocols.base import output_text

Message = dict[str, Any]


def snapshot_messages(items: list[dict[str, Any]], first_index: int) -> list[Message]:
    """``items`` (oldest first, the first at ``first_index`` in the conversation) as AG-UI
    messages; items AG-UI has no message for (hosted tool calls, …) are left out."""
    messages: list[Message] = []
    for offset, item in enumerate(items):
        message = _message(item, f"item-{first_index + offset}")
        if message is not None:
            messages.append(message)
    return messages


def _message(item: dict[str, Any], message_id: str) -> Message | None:
    kind = item.get("type") or "message"
    role = item.get("role")
    if kind == "message" and role in ("user", "system", "developer", "assistant"):
        return {"id": message_id, "role": role, "content": message_text(item.get("content"))}
    if kind == "function_call":
        call = {
            "id": str(item.get("call_id")),
            "type": "function",
            "function": {"name": str(item.get("name")), "arguments": str(item.get("arguments"))},
        }
        return {"id": message_id, "role": "assistant", "toolCalls": [call]}
    if kind == "function_call_output":
        return {
            "id": message_id,
            "role": "tool",
            "toolCallId": str(item.get("call_id")),
            "content": output_text(item.get("output")),
        }
    if kind == "reasoning":
        text = " ".join(part.get("text", "") for part in item.get("summary") or [])
        return {"id": message_id, "role": "reasoning", "content": text} if text else None
    return None
