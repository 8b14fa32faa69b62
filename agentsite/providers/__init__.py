"""Model providers (DESIGN §3): which model answers, and the offline model used with no key.

``selection`` picks the SDK's OpenAI provider or the offline one; ``offline`` is a
deterministic ``Model`` that streams like the Responses API, ``offline_replies`` what it says;
``check`` tells whether the configured provider is usable.
"""

from agentsite.providers.selection import (
    get_model_provider,
    is_offline,
    model_name_for,
    provider_name,
)

__all__ = ["get_model_provider", "is_offline", "model_name_for", "provider_name"]
