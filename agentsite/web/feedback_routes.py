"""Feedback on a reply over HTTP: ``PUT`` and ``DELETE
/{agent}/session/{session_id}/items/{position}/feedback``, mounted on every agent's router by
``agentsite.web.routes``. Input and output only; the rules are ``agentsite.governance.feedback``.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Path, Router

from agentsite.feedback_models import Rating
from agentsite.governance.feedback import clear_feedback, feedback_out, give_feedback
from agentsite.registry import AgentSpec
from agentsite.web.schemas import (
    FeedbackBody,
    FeedbackOut,
    FeedbackSavedOut,
    SessionIdPath,
    error_responses,
)
from agentsite.web.security import request_owner

ERRORS = error_responses(400, 401, 404, 415, 422, 503)
# Positions are BigIntegerField values; a larger number names no item (and would overflow).
PositionPath = Path(..., ge=0, le=2**63 - 1, description="The assistant item's position")
FEEDBACK_PATH = "/session/{session_id}/items/{position}/feedback"


def add_routes(router: Router, spec: AgentSpec) -> None:
    @router.put(
        FEEDBACK_PATH,
        response={200: FeedbackSavedOut, **ERRORS},
        summary="Rate an assistant reply (thumbs up or down, optional comment); replaces an "
        "earlier rating",
        operation_id=f"{spec.slug}_put_feedback",
    )
    async def put_feedback(
        request: HttpRequest,
        body: FeedbackBody,
        session_id: str = SessionIdPath,
        position: int = PositionPath,
    ) -> FeedbackSavedOut:
        owner = request_owner(request)
        feedback = await give_feedback(
            owner.key, spec.slug, session_id, position, Rating(body.rating), body.comment
        )
        return FeedbackSavedOut(
            session_id=session_id, position=position, feedback=FeedbackOut(**feedback_out(feedback))
        )

    @router.delete(
        FEEDBACK_PATH,
        response={200: FeedbackSavedOut, **ERRORS},
        summary="Take back the rating of an assistant reply",
        operation_id=f"{spec.slug}_delete_feedback",
    )
    async def delete_feedback(
        request: HttpRequest, session_id: str = SessionIdPath, position: int = PositionPath
    ) -> FeedbackSavedOut:
        owner = request_owner(request)
        await clear_feedback(owner.key, spec.slug, session_id, position)
        return FeedbackSavedOut(session_id=session_id, position=position, feedback=None)
