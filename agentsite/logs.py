"""Log records as one JSON object per line (``LOG_FORMAT=json``), for log collectors.

Loaded by ``LOGGING`` before Django's apps are ready, so it imports nothing from Django. Fields
passed with ``extra={...}`` become top-level keys; nothing here adds message content, and the
code that logs at INFO passes only ids, statuses, counts and timings.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

# API keys as providers print them (OpenAI "sk-…", "sk-proj-…", partly starred in its own
# error messages): whatever follows the prefix is dropped.
_SECRET = re.compile(r"\bsk-[A-Za-z0-9_*.\-]*")
REDACTED = "sk-[redacted]"


def redact(text: str) -> str:
    """``text`` with every API-key-like token replaced: log lines never carry a key."""
    return _SECRET.sub(REDACTED, text) if "sk-" in text else text


class RedactingFormatter(logging.Formatter):
    """The plain format, with keys redacted from the message and any traceback (an upstream
    client's exception text may quote the key it was given)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra, "exc_info"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))
