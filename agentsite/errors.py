"""Domain errors raised by services and translated to HTTP/WS responses in one place.

Each carries the HTTP status it maps to and a stable ``code`` (``provider_auth``,
``conversation_full``, …) that clients can branch on; transports read ``status``, ``message``
and ``code`` only. Messages are written for the client: what went wrong and what to do, never
an upstream's own error text (it may quote the server's credentials); details go to the log,
secrets redacted (``agentsite.logs.redact``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from typing import Any

from django.db import InterfaceError, OperationalError

from agentsite.logs import redact

logger = logging.getLogger(__name__)
# A lost or refused database connection (not a query the database rejected): a 503.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


class AgentSiteError(Exception):
    status: int = 500
    message: str = "Internal error"
    code: str = "internal_error"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass's ``code`` is its name in snake case (``NotFound`` → ``not_found``)
        unless it sets one."""
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            cls.code = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        if code is not None:
            self.code = code

    def response_headers(self) -> dict[str, str]:
        """Headers an HTTP answer of this error carries (``Retry-After`` of a quota)."""
        return {}

    def event_keys(self) -> dict[str, Any]:
        """Keys a WebSocket ``error`` event of this error carries beside its message."""
        return {}


class BadRequest(AgentSiteError):
    status = 400
    message = "Bad request"


class Unauthorized(AgentSiteError):
    """No valid credentials where they are required (REQUIRE_API_KEY, a bad or revoked key)."""

    status = 401
    message = "A valid API key is required: send 'Authorization: Bearer <key>'"


class Forbidden(AgentSiteError):
    """Credentials that may not be used from where the request came (a WebSocket's Origin)."""

    status = 403
    message = "Forbidden"


class NotFound(AgentSiteError):
    status = 404
    message = "Not found"


class EventsGone(NotFound):
    """A finished run whose event log is no longer kept: nothing to replay, ever again."""

    message = (
        "This run's events are no longer kept: its conversation was deleted, or the run "
        "ended more than RUN_EVENTS_TTL_SECONDS ago"
    )


class ConversationBusy(AgentSiteError):
    status = 409
    message = "A run is already in progress for this session; wait for it or cancel it"


class LegalHold(AgentSiteError):
    """The conversation is under a legal hold: staff keep it, so its owner cannot delete it."""

    status = 409
    message = "This conversation is under a legal hold and cannot be deleted"
    # Rewinding or clearing it: removing some of its items, which the hold keeps too.
    ITEMS_KEPT = "This conversation is under a legal hold: its items cannot be removed"


class UnsupportedMediaType(AgentSiteError):
    status = 415
    message = "Send the request body as JSON (Content-Type: application/json)"


class PayloadTooLarge(AgentSiteError):
    status = 413
    message = "Request body too large"


class UpstreamError(AgentSiteError):
    """The model provider failed: refused the connection, answered an error, timed out."""

    status = 502
    code = "provider_error"
    message = "The model provider failed"


class DatabaseUnavailable(AgentSiteError):
    """The database refused or dropped the connection: the request can be retried later."""

    status = 503
    message = "The database is unavailable; try again shortly"


class AgentRunError(AgentSiteError):
    """The run failed inside the agent loop (bad model output, too many turns, ...)."""

    status = 502
    code = "agent_run_failed"
    message = "The agent run failed"


class ConversationFull(AgentSiteError):
    """The conversation holds MAX_CONVERSATION_ITEMS items or MAX_CONVERSATION_BYTES bytes: it
    takes no further run. 409, not 413: the request itself is fine, the state of the resource
    it targets refuses it, and the client resolves it (a new conversation, a rewind, a delete)
    rather than by sending less; unlike ``conversation_busy`` waiting does not help."""

    status = 409
    message = "This conversation is full; start a new conversation or delete this one"


class QuotaExceeded(AgentSiteError):
    """A quota of the caller's is used up (``agentsite.governance.quotas``): 429, with
    ``Retry-After`` (seconds) and the ``X-RateLimit-*`` headers saying what is left."""

    status = 429
    message = "A quota is used up; try again later"

    def __init__(
        self, message: str, *, limit: str, retry_after: int, headers: dict[str, str]
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after), **headers}

    def response_headers(self) -> dict[str, str]:
        return self.headers

    def event_keys(self) -> dict[str, Any]:
        return {"limit": self.limit, "retry_after": self.retry_after}


class ApprovalPending(AgentSiteError):
    """The conversation's last run is paused on a tool call awaiting a person's decision: a new
    message would interleave with it (the model still expects the call's answer). Decide it
    first (``POST /{agent}/runs/{run_id}/approvals``) or let it expire."""

    status = 409

    def __init__(
        self, run_id: str, tool_name: str, approval_id: str, *, expired: bool = False
    ) -> None:
        super().__init__(
            f"This conversation is waiting for approval of a {tool_name} call (approval "
            f"{approval_id}, run {run_id}); approve or reject it before sending a new message"
        )
        self.run_id = run_id
        self.approval_id = approval_id
        # Past APPROVAL_TIMEOUT_SECONDS: the caller expires it (a rejection) and tries again.
        self.expired = expired


class NotAwaitingApproval(AgentSiteError):
    status = 409
    message = "This run is not awaiting approval"


class InvalidDecision(AgentSiteError):
    """A decision that names no pending approval of the run, or contradicts itself."""

    status = 422


# The HTTP stacks under the ``openai`` client: their own exceptions are network failures.
_NETWORK_MODULES = ("httpx", "httpcore", "httpx2", "httpcore2", "aiohttp")
_UPSTREAM_MODULES = ("openai", *_NETWORK_MODULES)
# The model provider's HTTP status → what the client is told (the provider's own text is not:
# it can quote the server's API key, e.g. "Incorrect API key provided: sk-…").
_PROVIDER_STATUS = {
    401: ("provider_auth", "The model provider rejected the server's credentials"),
    403: ("provider_auth", "The model provider refused the server access to this model"),
    404: (
        "provider_rejected",
        "The model provider does not know the configured model or endpoint (HTTP 404)",
    ),
    429: ("provider_rate_limited", "The model provider is rate limiting this server; try again"),
}


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
    if isinstance(exc, openai.APITimeoutError) and not _connect_failure_as_timeout(exc):
        _log_provider_failure(exc)
        return UpstreamError("The model provider timed out", code="provider_timeout")
    if isinstance(exc, openai.APIConnectionError):
        _log_provider_failure(exc)
        return UpstreamError(
            "The connection to the model provider failed", code="provider_unreachable"
        )
    if isinstance(exc, openai.APIStatusError):
        _log_provider_failure(exc)
        code, message = _PROVIDER_STATUS.get(exc.status_code, ("", ""))
        if not code:
            kind = "failed" if exc.status_code >= 500 else "rejected the request"
            code = "provider_error" if exc.status_code >= 500 else "provider_rejected"
            message = f"The model provider {kind} (HTTP {exc.status_code})"
        return UpstreamError(message, code=code)
    if _raised_by_provider_client(exc):
        _log_provider_failure(exc)
        if isinstance(exc, ValueError):  # json.JSONDecodeError among them
            return UpstreamError(
                "The model provider sent a malformed response", code="provider_bad_response"
            )
        if type(exc).__module__.split(".")[0] in _NETWORK_MODULES:
            return UpstreamError(
                "The connection to the model provider failed", code="provider_unreachable"
            )
        return UpstreamError()
    if isinstance(exc, AgentsException):
        return AgentRunError(f"The agent run failed: {type(exc).__name__}: {redact(str(exc))}")
    logger.error("agent run failed unexpectedly", exc_info=exc)
    return AgentSiteError("Internal error while running the agent")


def _connect_failure_as_timeout(exc: BaseException) -> bool:
    """A refused or unresolvable connection that the ``openai`` client reports as a timeout:
    its aiohttp transport maps aiohttp's ``ClientConnectorError`` to httpx's ``ConnectTimeout``
    (the first match in its table is the parent class). Not a timeout: it is unreachable."""
    import aiohttp

    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, aiohttp.ClientConnectorError) and not isinstance(cause, TimeoutError):
            return True
        cause = cause.__cause__
    return False


def _raised_by_provider_client(exc: BaseException) -> bool:
    """An exception of the HTTP client stack, or raised while it decoded the provider's answer
    (e.g. ``json.JSONDecodeError`` from the ``openai`` client's SSE decoder: a malformed
    event from the provider, not a bug here)."""
    if any(cls.__module__.split(".")[0] in _UPSTREAM_MODULES for cls in type(exc).__mro__[:-1]):
        return True
    if not isinstance(exc, ValueError):
        return False
    traceback = exc.__traceback__
    while traceback is not None:
        module = str(traceback.tb_frame.f_globals.get("__name__", ""))
        if module.split(".")[0] == "openai":
            return True
        traceback = traceback.tb_next
    return False


def _log_provider_failure(exc: BaseException) -> None:
    """The provider's own words for the operator (the client gets a generic message), with the
    URL and the model the failed request went to, so a misconfigured OPENAI_BASE_URL or
    AGENT_MODEL shows; the key is only ever in a header, and redacted from the text."""
    request = None
    with contextlib.suppress(AttributeError, RuntimeError):  # httpx raises when it has none
        request = exc.request  # type: ignore[attr-defined]
    url = str(getattr(request, "url", "") or "?")
    model = "?"
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        model = str(json.loads(getattr(request, "content", b"") or b"{}").get("model", "?"))
    status = getattr(exc, "status_code", None)
    logger.warning(
        "model provider request failed: %s %s (model %s): %s%s: %s",
        getattr(request, "method", "POST"),
        url,
        model,
        type(exc).__name__,
        f" (HTTP {status})" if status else "",
        redact(str(exc)),
        extra={"provider_url": url, "model": model},
    )


def forget_broken_connections() -> None:
    """After a database error, have the thread that runs agent runs drop connections that are
    no longer usable, so the next run reconnects instead of failing with "the connection is
    closed" for the life of the process.

    Runs do their ORM work on asgiref's process-wide single thread (they start in a fresh
    context, outside any request: ``agentsite.runs.service``), where Django's per-request
    ``close_old_connections`` never runs; a connection a database outage broke would stay
    there forever. Queued behind that thread's current work, never waited for. With
    DATABASE_THREADS > 1, each of the module's own threads checks its connections before its
    next call (``agentsite.conversations.dbthread``).
    """
    from django.db import close_old_connections

    from agentsite.conversations.dbthread import (
        check_connections_before_next_call,
        submit_to_database_thread,
    )

    check_connections_before_next_call()

    def close() -> None:
        try:
            close_old_connections()
        except Exception as exc:  # closing a dead connection may itself fail; it is gone anyway
            logger.debug("closing a broken database connection failed: %s", exc)

    submit_to_database_thread(close)
