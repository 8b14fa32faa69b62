"""The run service: start, follow and cancel runs (of agents, and of pipelines such as research),
and the machinery behind it.

``service`` is the entry point every transport calls (``start_run``, ``follow_run``,
``cancel_run``, ``get_run``); ``driver`` executes one run in the background, whatever its
``work`` (``RunWork``: an agent's turn in ``agent_work``, the only code that iterates the SDK's
streams, or a ``PipelineWork``); ``hub`` holds the runs alive in this process and their followers;
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
    OnDisconnect,
    RunRequest,
    WorkRequest,
    cancel_run,
    follow_run,
    get_resumable_run,
    get_run,
    run_to_completion,
    start_run,
)
from agentsite.runs.work import PipelineWork, RunWork

__all__ = [
    "ApprovalDecision",
    "OnDisconnect",
    "PipelineWork",
    "RunRequest",
    "RunWork",
    "WireEvent",
    "WorkRequest",
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
