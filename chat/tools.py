"""Function tools of the assistant agent. Plain functions first, so they are testable alone.

Every tool answers within bounded time and memory, or says plainly why it did not: the
calculator's evaluation runs in a worker process with a time limit
(``agentsite.tool_workers.pool``),
so a pathological expression costs one killed child, never the server's event loop.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agents import function_tool
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError, EmailMessage
from django.core.validators import validate_email

from agentsite.tool_workers.pool import ToolLimitExceeded, run_bounded
from chat.arithmetic import calculation_text, check_expression

logger = logging.getLogger(__name__)
# IANA names are at most ~30 characters; anything longer is not one.
MAX_TIMEZONE_LENGTH = 64
MAX_SUBJECT_LENGTH = 200
MAX_BODY_LENGTH = 20_000


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


async def deliver_email(to: str, subject: str, body: str) -> str:
    """Send one plain-text mail through Django's email backend (EMAIL_URL; the console without
    it); what happened as the text the model gets, a refusal included."""
    try:
        validate_email(to)
    except ValidationError:
        return f"Error: {to!r} is not an email address"
    if len(subject) > MAX_SUBJECT_LENGTH or len(body) > MAX_BODY_LENGTH:
        return (
            f"Error: the subject is limited to {MAX_SUBJECT_LENGTH} characters and the body "
            f"to {MAX_BODY_LENGTH}"
        )
    message = EmailMessage(subject=subject or "(no subject)", body=body, to=[to])
    try:
        # SMTP blocks: a worker thread, not the event loop.
        await sync_to_async(message.send, thread_sensitive=False)()
    except BadHeaderError:
        return "Error: the subject must be one line"
    except OSError as exc:  # smtplib's errors are OSErrors
        logger.warning("sending an email failed: %s", exc)
        return "Error: the mail server did not accept the message; it was not sent"
    return f"Email sent to {to} (subject: {subject or '(no subject)'})"


@function_tool(needs_approval=True)
async def send_email(to: str, subject: str, body: str) -> str:
    """Send an email. A person approves every message before it goes out.

    Args:
        to: The recipient's email address.
        subject: The subject line.
        body: The message, plain text.
    """
    return await deliver_email(to, subject, body)
