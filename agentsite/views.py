"""HTML pages. Serving a page marks the browser, so its conversations are its own."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from agentsite.owners import amark_browser


async def index(request: HttpRequest) -> HttpResponse:
    await amark_browser(request)
    return TemplateResponse(request, "agentsite/index.html")
