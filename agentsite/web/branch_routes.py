"""Branches over HTTP: ``POST /{agent}/session/{session_id}/fork`` (edit an earlier user
message) and ``…/branch`` (switch the active branch), mounted on every agent's router by
``agentsite.web.routes``. Input and output only; the rules are
``agentsite.conversations.branches``.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from agentsite.conversations.branches import fork_conversation, switch_branch
from agentsite.registry import AgentSpec
from agentsite.web.schemas import BranchBody, BranchOut, ForkBody, SessionIdPath, error_responses
from agentsite.web.security import request_owner

ERRORS = error_responses(400, 401, 404, 409, 415, 422, 503)


def add_routes(router: Router, spec: AgentSpec) -> None:
    @router.post(
        "/session/{session_id}/fork",
        response={200: BranchOut, **ERRORS},
        summary="Edit an earlier user message: fork the conversation before it",
        description="Makes a new branch holding the active branch's items before the user "
        "message at `position`, and makes it the active one; send the edited message with "
        "`/run` or `/stream` as usual. 404 when the position is not a user message of the "
        "active branch, 409 while a run holds the conversation.",
        operation_id=f"{spec.slug}_fork",
    )
    async def fork(
        request: HttpRequest, body: ForkBody, session_id: str = SessionIdPath
    ) -> BranchOut:
        owner = request_owner(request)
        state = await fork_conversation(owner.key, spec.slug, session_id, body.position)
        return BranchOut(
            session_id=session_id,
            branch=state.branch,
            branch_count=state.branch_count,
            input=state.input,
        )

    @router.post(
        "/session/{session_id}/branch",
        response={200: BranchOut, **ERRORS},
        summary="Switch the conversation's active branch",
        description="The active branch is what the history shows and what the model sees "
        "next turn. 404 for an unknown branch, 409 while a run holds the conversation.",
        operation_id=f"{spec.slug}_switch_branch",
    )
    async def branch(
        request: HttpRequest, body: BranchBody, session_id: str = SessionIdPath
    ) -> BranchOut:
        owner = request_owner(request)
        state = await switch_branch(owner.key, spec.slug, session_id, body.branch)
        return BranchOut(
            session_id=session_id, branch=state.branch, branch_count=state.branch_count, input=None
        )
