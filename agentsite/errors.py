"""Domain errors raised by services and translated to HTTP/WS responses in one place.

Each carries the HTTP status it maps to; transports read ``status`` and ``message`` only.
"""

from __future__ import annotations

import contextlib
import json
import logging

from django.db import InterfaceError, OperationalError

logger = logging.getLogger(__name__)
# A lost or refused database connection (not a query the database rejected): a 503.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


class AgentSiteError(Exception):
    status: int = 500
    message: str = "Internal error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message


class BadRequest(AgentSiteError):
    status = 400
    message = "Bad request"


class Unauthorized(AgentSiteError):
    """No valid credentials where they are required (REQUIRE_API_KEY, a bad or revoked key)."""

    status = 401
    message = "A valid API key is required: send 'Authorization: Bearer <key>'"


class NotFound(AgentSiteError):
    status = 404
    message = "Not found"


class ConversationBusy(AgentSiteError):
    status = 409
    message = "A run is already in progress for this session; wait for it or cancel it"


class UnsupportedMediaType(AgentSiteError):
    status = 415
    message = "Send the request body as JSON (Content-Type: application/json)"


class PayloadTooLarge(AgentSiteError):
    status = 413
    message = "Request body too large"


class UpstreamError(AgentSiteError):
    """The model provider failed: refused the connection, answered an error, timed out."""

    status = 502
    message = "The model provider failed"


class DatabaseUnavailable(AgentSiteError):
    """The database refused or dropped the connection: the request can be retried later."""

    status = 503
    message = "The database is unavailable; try again shortly"


class AgentRunError(AgentSiteError):
    """The run failed inside the agent loop (bad model output, too many turns, ...)."""

    status = 502
    message = "The agent run failed"


_UPSTREAM_MODULES = ("openai", "httpx", "httpcore", "httpx2")


def translate_error(exc: BaseException) -> AgentSiteError:
    """Map whatever a run raised to the domain error the transports know how to send."""
    import openai
    from agents.exceptions import AgentsException

    if isinstance(exc, AgentSiteError):
        return exc
    if isinstance(exc, DATABASE_UNAVAILABLE):
        logger.warning("database unavailable during a run: %s", exc)
        forget_broken_connections()
        return DatabaseUnavailable()
    if isinstance(exc, openai.APIError):
        _log_provider_failure(exc)
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamError("The model provider timed out")
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamError(f"The connection to the model provider failed: {exc}")
    if isinstance(exc, openai.APIStatusError):
        return UpstreamError(f"The model provider answered HTTP {exc.status_code}: {exc.message}")
    if any(cls.__module__.split(".")[0] in _UPSTREAM_MODULES for cls in type(exc).__mro__[:-1]):
        return UpstreamError(f"The model provider failed: {type(exc).__name__}: {exc}")
    if isinstance(exc, AgentsException):
        return AgentRunError(f"The agent run failed: {type(exc).__name__}: {exc}")
    logger.error("agent run failed unexpectedly", exc_info=exc)
    return AgentSiteError("Internal error while running the agent")


def _log_provider_failure(exc: Exception) -> None:
    """Name the URL and the model a failed provider request went to (the key is only ever in
    a header, never in either), so a misconfigured OPENAI_BASE_URL or AGENT_MODEL shows."""
    request = getattr(exc, "request", None)
    url = str(getattr(request, "url", "") or "?")
    model = "?"
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        model = str(json.loads(getattr(request, "content", b"") or b"{}").get("model", "?"))
    logger.warning(
        "model provider request failed: %s %s (model %s): %s: %s",
        getattr(request, "method", "POST"),
        url,
        model,
        type(exc).__name__,
        exc,
        extra={"provider_url": url, "model": model},
    )


def forget_broken_connections() -> None:
    """After a database error, have the thread that runs agent runs drop connections that are
    no longer usable, so the next run reconnects instead of failing with "the connection is
    closed" for the life of the process.

    Runs do their ORM work on asgiref's process-wide single thread (they start in a fresh
    context, outside any request: ``agentsite.runs``), where Django's per-request
    ``close_old_connections`` never runs; a connection a database outage broke would stay
    there forever. Queued behind that thread's current work, never waited for.
    """
    from asgiref.sync import SyncToAsync
    from django.db import close_old_connections

    def close() -> None:
        try:
            close_old_connections()
        except Exception as exc:  # closing a dead connection may itself fail; it is gone anyway
            logger.debug("closing a broken database connection failed: %s", exc)

    # RuntimeError: the executor is shut down, the process is exiting.
    with contextlib.suppress(RuntimeError):
        SyncToAsync.single_thread_executor.submit(close)
