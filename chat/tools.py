"""Function tools of the assistant agent. Plain functions first, so they are testable alone.

Every tool answers within bounded time and memory, or says plainly why it did not: the
calculator's evaluation runs in a worker process with a time limit
(``agentsite.tool_workers.pool``),
so a pathological expression costs one killed child, never the server's event loop.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agents import function_tool

from agentsite.tool_workers.pool import ToolLimitExceeded, run_bounded
from chat.arithmetic import calculation_text, check_expression

# IANA names are at most ~30 characters; anything longer is not one.
MAX_TIMEZONE_LENGTH = 64


def time_in(timezone: str) -> str:
    """The current date and time in an IANA time zone, ISO 8601."""
    if len(timezone) > MAX_TIMEZONE_LENGTH:
        raise ValueError(f"time zone name longer than {MAX_TIMEZONE_LENGTH} characters")
    try:
        zone = ZoneInfo(timezone.strip() or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {timezone!r}; use an IANA name like Europe/Paris"
        ) from exc
    return datetime.now(zone).isoformat(timespec="seconds")


async def calculate_bounded(expression: str) -> str:
    """The calculator's answer, computed in a worker; a refusal or a limit hit as the text
    the model gets (it can correct the expression or tell the user)."""
    try:
        check_expression(expression)
        return str(await run_bounded(calculation_text, expression))
    except (ValueError, ToolLimitExceeded) as exc:
        return f"Error: {exc}"


@function_tool
async def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression exactly and return the result.

    Args:
        expression: Arithmetic such as "2 * (3 + 4) / 7" or "sqrt(2) ** 2".
    """
    return await calculate_bounded(expression)


@function_tool
def current_time(timezone: str) -> str:
    """Return the current date and time in a time zone.

    Args:
        timezone: An IANA time zone name such as "Europe/Paris", "Asia/Tokyo" or "UTC".
    """
    return time_in(timezone)
