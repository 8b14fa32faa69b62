"""The run service: start, follow and cancel agent runs, and the machinery behind it.

``service`` is the entry point every transport calls (``start_run``, ``follow_run``,
``cancel_run``, ``get_run``); ``driver`` executes one run in the background (the only code that
iterates the SDK's streams); ``hub`` holds the runs alive in this process and their followers;
``eventlog`` keeps each run's events so a client can resume from any process; ``events`` turns
SDK stream events into the wire events of DESIGN §5.
"""

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
    "RunRequest",
    "WireEvent",
    "cancel_run",
    "error_event",
    "follow_run",
    "get_resumable_run",
    "get_run",
    "run_to_completion",
    "start_run",
]
