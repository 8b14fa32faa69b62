"""The research WebSocket route, ``ws/research/`` (gathered by ``agentsite.web.routing``): the
shared run consumer, with research's ``run`` frame.

Frames the client sends: ``{"type": "run", "query": "…", "on_disconnect"?: "cancel"|"continue"}``
(``input`` is accepted in place of ``query``), and the consumer's own ``cancel``, ``resume`` and
``ping``. Closing the socket cancels the research unless the run frame said ``continue``.
"""

from __future__ import annotations

from typing import Any, Literal

from django.urls import URLPattern
from pydantic import BaseModel

from agentsite.runs import WorkRequest
from agentsite.web.consumers import run_websocket_path, validate
from agentsite.web.owners import Owner
from research.manager import RESEARCH, ResearchManager


class ResearchFrame(BaseModel):
    # Any: the query is checked (with its own 422 messages) by ResearchManager.
    query: Any = None
    input: Any = None
    on_disconnect: Literal["cancel", "continue"] = "cancel"


def research_request(frame: dict[str, Any], owner: Owner) -> WorkRequest:
    fields = validate(ResearchFrame, frame)
    query = fields.query if fields.query is not None else fields.input
    return ResearchManager(query, owner.key).request(fields.on_disconnect)


websocket_urlpatterns: list[URLPattern] = [run_websocket_path(RESEARCH, research_request)]
