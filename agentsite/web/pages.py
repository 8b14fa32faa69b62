"""HTML pages. Serving a page marks the browser, so its conversations are its own.

Pages run only the site's own scripts: the Content-Security-Policy forbids inline and foreign
scripts, so even markup that slipped past the Markdown renderer's escaping could not execute.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.template.response import TemplateResponse

from agentsite.registry import all_specs
from agentsite.web.owners import amark_browser

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
CHAT_AGENTS = ("chat", "assistant")


async def page(request: HttpRequest, template: str, context: dict | None = None) -> HttpResponse:
    """A UI page: the browser marked as its own owner, the strict CSP set."""
    await amark_browser(request)
    user = await request.auser()
    response = TemplateResponse(
        request, template, {**(context or {}), "user": user, "agents": chat_agents()}
    )
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Referrer-Policy"] = "same-origin"
    return response


def chat_agents() -> list[str]:
    mounted = {spec.slug for spec in all_specs()}
    return [slug for slug in CHAT_AGENTS if slug in mounted] or list(CHAT_AGENTS)


async def index(request: HttpRequest) -> HttpResponse:
    """The chat page, the site's entry point."""
    return await page(request, "agentsite/chat.html", {"page": "chat"})


async def research_page(request: HttpRequest) -> HttpResponse:
    return await page(request, "agentsite/research.html", {"page": "research"})


def when_email_configured(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """A password-reset page that exists only with ``EMAIL_URL`` set: without a way to mail the
    link the form is useless, and Django's default SMTP backend would log a traceback for every
    attempt (a cheap way to flood the logs)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        if not settings.EMAIL_URL:
            raise Http404("Password reset is off: no email is configured (EMAIL_URL)")
        return view(request, *args, **kwargs)

    return wrapped
