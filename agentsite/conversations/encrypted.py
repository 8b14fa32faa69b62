"""``EncryptedDjangoSession``: the SDK's ``EncryptedSession`` over ``DjangoSession``, with a
``pop_item`` that cannot destroy history it cannot read.

The SDK's ``EncryptedSession.pop_item`` checks that its key authenticates an item before
removing it only when the store underneath is exactly ``SQLiteSession`` (through that class's
private ``_pop_item_with_validation``). Over any other store it pops first and decrypts after:
with a wrong key each pop removes an item it cannot read and tries the next, so one pop empties
the whole conversation. Here the same check runs through ``DjangoSession.pop_item_with_validation``
inside the transaction that would remove the item: a wrong key raises ``InvalidToken`` and
removes nothing. Everything else is the SDK's ``EncryptedSession`` unchanged.

Needs ``cryptography`` (``pip install 'agentsite[encrypt]'`` or ``openai-agents[encrypt]``).
"""

from __future__ import annotations

from typing import Any

from agents.extensions.memory.encrypt_session import EncryptedSession, _is_encrypted_envelope
from agents.items import TResponseInputItem
from agents.run_context import RunContextWrapper

from agentsite.conversations.session import DjangoSession


class EncryptedDjangoSession(EncryptedSession):
    """``EncryptedSession(session_id, underlying_session=DjangoSession(...), encryption_key=...)``
    whose pops leave items the key cannot authenticate where they are."""

    async def pop_item(
        self, *, wrapper: RunContextWrapper[Any] | None = None
    ) -> TResponseInputItem | None:
        """The newest item this key can read, removed; items on the way that are not
        envelopes, or that this key authenticates but that have expired, are dropped (as the
        SDK does). An envelope this key cannot authenticate raises ``InvalidToken`` and stays."""
        underlying = self.underlying_session
        if not isinstance(underlying, DjangoSession):
            return await super().pop_item(wrapper=wrapper)

        def authenticate(item: TResponseInputItem) -> None:
            if _is_encrypted_envelope(item):
                # Without the TTL, as the SDK does: authenticated expired items still drain.
                self.cipher.extract_timestamp(item["payload"].encode("utf-8"))

        while True:
            envelope = await underlying.pop_item_with_validation(authenticate, wrapper=wrapper)
            if not envelope:
                return None
            item = self._unwrap(envelope)
            if item is not None:
                return item
