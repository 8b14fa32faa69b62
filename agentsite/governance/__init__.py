"""Governance (DESIGN §10): what staff read and take away, and the limits and records around it.

``moderation`` builds transcripts, exports and usage figures for the admin; ``audit`` records
staff actions in the audit log (``audit_models``, shown by ``audit_admin``); ``owner_data``
exports or erases everything of one owner (``owner_admin`` is its admin page).
"""

from agentsite.governance.moderation import export_conversation, transcript, usage_per_day

__all__ = ["export_conversation", "transcript", "usage_per_day"]
