"""Domain errors raised by services and translated to HTTP/WS responses in one place.

Each carries the HTTP status it maps to; transports read ``status`` and ``message`` only.
"""

from __future__ import annotations


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


class AgentRunError(AgentSiteError):
    """The run failed inside the agent loop (bad model output, too many turns, ...)."""

    status = 502
    message = "The agent run failed"
