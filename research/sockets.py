"""``ws/research/``: the shared run consumer (``agentsite.web.consumers``) with research's ``run``
frame, mounted by the site from ``ResearchConfig``'s endpoint declaration.

Frames the client sends: ``{"type": "run", "query": "…", "on_disconnect"?: "cancel"|"continue"}``
(``input`` is accepted in place of ``query``), and the consumer's own ``cancel``, ``resume`` and
``ping``. Closing the socket cancels the research unless the run frame said ``continue``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from agentsite.runs import WorkRequest
from agentsite.web.consumers import RunConsumer, validate
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


class ResearchConsumer(RunConsumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, slug=RESEARCH, read_run=research_request, **kwargs)
