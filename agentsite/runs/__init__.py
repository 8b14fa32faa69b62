"""The run service: start, follow and cancel agent runs, and the machinery behind it.

``service`` is the entry point every transport calls (``start_run``, ``follow_run``,
``cancel_run``, ``get_run``); ``driver`` executes one run in the background (the only code that
iterates the SDK's streams); ``hub`` holds the runs alive in this process and their followers;
``eventlog`` keeps each run's events so a client can resume from any process; ``events`` turns
SDK stream events into the wire events of DESIGN §5; ``approvals`` decides the tool calls a
run paused on (``pauses``) and resumes it (DESIGN §9).
"""

from agentsite.runs.approvals import (
    ApprovalDecision,
    cancel_paused,
    decide,
    decide_run,
    expire_overdue,
    pending_approvals,
)
from agentsite.runs.events import WireEvent, error_event
from agentsite.runs.service import (
    RunRequest,
    cancel_run,
    follow_run,
    get_resumable_run,
    get_run,
    run_to_completion,
    start_run,
)

__all__ = [
    "ApprovalDecision",
    "RunRequest",
    "WireEvent",
    "cancel_paused",
    "cancel_run",
    "decide",
    "decide_run",
    "error_event",
    "expire_overdue",
    "follow_run",
    "get_resumable_run",
    "get_run",
    "pending_approvals",
    "run_to_completion",
    "start_run",
]
