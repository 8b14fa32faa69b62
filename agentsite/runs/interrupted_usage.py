"""Tokens of a model response that a cancel cut short.

Providers report a response's usage only when it completes (the Responses API's
``response.completed``, Chat Completions' last chunk), so a run stopped mid-reply would record
none of the tokens it was billed for. The ledger counts that response by estimate instead:
about four characters a token (OpenAI's rule of thumb for English) of what was sent — the
history and the new input — and of the text that had streamed back.
"""

from __future__ import annotations

import json
import math
from typing import Any

from agents.usage import Usage

CHARS_PER_TOKEN = 4


def with_interrupted_response(usage: Usage, sent: list[Any], streamed_text: str) -> Usage:
    """``usage`` plus one request whose tokens are estimated from ``sent`` (the items the
    model was given) and ``streamed_text`` (what it had answered)."""
    sent_chars = len(json.dumps(sent, ensure_ascii=False, default=str))
    estimate = Usage(
        requests=1,
        input_tokens=math.ceil(sent_chars / CHARS_PER_TOKEN),
        output_tokens=math.ceil(len(streamed_text) / CHARS_PER_TOKEN),
    )
    estimate.total_tokens = estimate.input_tokens + estimate.output_tokens
    total = Usage()
    total.add(usage)
    total.add(estimate)
    return total
