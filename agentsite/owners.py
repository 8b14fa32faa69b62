"""Who a request acts for: the namespace its conversations live in.

Until API keys and per-user ownership arrive, every keyless client shares the anonymous
namespace, exactly as the FastAPI app behaved.
"""

from __future__ import annotations

from django.http import HttpRequest

from agentsite.models import ANONYMOUS_OWNER


def owner_for(request: HttpRequest) -> str:
    return ANONYMOUS_OWNER
