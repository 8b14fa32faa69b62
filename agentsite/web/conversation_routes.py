"""Routes over all of the caller's conversations, whatever agent they are with: the web UI's
one conversation list (newest first, searched server-side) and claiming a browser's
conversations into the account its visitor logged in to."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja import Router

from agentsite.conversations.listing import (
    claim_conversations,
    claimable_count,
    list_conversations,
)
from agentsite.errors import NotFound
from agentsite.registry import all_specs
from agentsite.web.owners import browser_behind_account
from agentsite.web.schemas import (
    ClaimOut,
    PageQuery,
    PageSizeQuery,
    SearchQuery,
    SessionListOut,
    error_responses,
)
from agentsite.web.security import request_owner

ERRORS = error_responses(400, 401, 404, 415, 422, 503)

router = Router(tags=["conversations"])


@router.get(
    "",
    response={200: SessionListOut, **ERRORS},
    summary="The caller's conversations with every agent, newest first",
    operation_id="conversations_list",
)
async def conversations(
    request: HttpRequest,
    page: int = PageQuery,
    page_size: int = PageSizeQuery,
    q: str = SearchQuery,
) -> SessionListOut:
    owner = request_owner(request)
    if not settings.ENABLE_SESSIONS:
        raise NotFound("Sessions are disabled on this server (ENABLE_SESSIONS=false)")
    agents = [spec.slug for spec in all_specs()]
    rows, total = await list_conversations(owner.key, agents, page, page_size, q)
    return SessionListOut.page_of(rows, total, page, page_size)


@router.get(
    "/claimable",
    response={200: ClaimOut, **ERRORS},
    summary="How many conversations this browser had before its visitor logged in",
    operation_id="conversations_claimable",
)
async def claimable(request: HttpRequest) -> ClaimOut:
    owner = request_owner(request)
    browser = await browser_behind_account(request, owner)
    return ClaimOut(count=await claimable_count(browser.key) if browser else 0)


@router.post(
    "/claim",
    response={200: ClaimOut, **ERRORS},
    summary="Move this browser's conversations into the logged-in account",
    operation_id="conversations_claim",
)
async def claim(request: HttpRequest) -> ClaimOut:
    owner = request_owner(request)
    browser = await browser_behind_account(request, owner)
    if browser is None:
        raise NotFound("Only a logged-in browser session can claim its conversations")
    return ClaimOut(count=await claim_conversations(browser.key, owner.key))
