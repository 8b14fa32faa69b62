"""Governance (DESIGN §10): what staff read and take away, and the limits and records around it.

``moderation`` builds transcripts, exports and usage figures for the admin; ``feedback`` holds
the rules of rating a reply, for every client; ``audit`` records staff actions in the audit log
(``audit_models``, shown by ``audit_admin``); ``owner_data`` exports or erases everything of one
owner (``owner_admin`` is its admin page).
"""

from agentsite.governance.feedback import clear_feedback, feedback_on_items, give_feedback
from agentsite.governance.moderation import export_conversation, transcript, usage_per_day

__all__ = [
    "clear_feedback",
    "export_conversation",
    "feedback_on_items",
    "give_feedback",
    "transcript",
    "usage_per_day",
]
