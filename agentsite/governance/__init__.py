"""Governance (DESIGN §10): what staff read and take away, and the limits and records around it.

``moderation`` builds transcripts, exports and usage figures for the admin.
"""

from agentsite.governance.moderation import export_conversation, transcript, usage_per_day

__all__ = ["export_conversation", "transcript", "usage_per_day"]
