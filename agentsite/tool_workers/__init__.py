"""CPU-bound tool functions in worker processes, with a time and a memory limit.

``pool`` is the parent's side (``run_bounded``); ``process`` runs inside each worker
(started as ``python -m agentsite.tool_workers``).
"""

from agentsite.tool_workers.pool import ToolLimitExceeded, run_bounded

__all__ = ["ToolLimitExceeded", "run_bounded"]
