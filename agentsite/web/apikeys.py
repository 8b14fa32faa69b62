"""API keys: issue one (shown once), recognise it on a request, revoke it.

A key is ``ask_`` + 43 URL-safe characters (256 random bits). Only its SHA-256 and a short
prefix (so staff can tell keys apart) are stored. A fast unsalted hash is enough here: the key is
already uniformly random and far too long to brute-force, and a deterministic hash means a
request is recognised with one indexed lookup instead of trying every stored key. Looking the key
up by its hash also means no secret is ever compared byte by byte, so there is no timing oracle.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from agentsite.models import ApiKey

KEY_PREFIX = "ask_"
# How much of the key is kept in clear: the marker plus 8 random characters, enough for staff
# to match a key in a client's config against the admin list, far too little to guess the rest.
PREFIX_LENGTH = len(KEY_PREFIX) + 8
# last_used_at is informational; writing it on every request would turn every API call into a
# write (and a lock on a hot row), so it is refreshed at most this often.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_key(raw: str) -> str:
    """The stored form of a key: hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def assign_secret(key: ApiKey) -> str:
    """Give an unsaved ``ApiKey`` a fresh secret and return the plaintext.

    Separate from ``generate_api_key`` so the admin can fill in the instance its add form built
    and let ``ModelAdmin`` save it as usual. The caller must show the plaintext now: nothing can
    recover it later.
    """
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key.prefix = raw[:PREFIX_LENGTH]
    key.key_hash = hash_api_key(raw)
    return raw


def generate_api_key(name: str, user: Any = None) -> tuple[ApiKey, str]:
    """Create and save a key; returns it with its plaintext, which is not stored anywhere."""
    key = ApiKey(name=name, user=user)
    raw = assign_secret(key)
    key.save()
    return key, raw


async def authenticate_api_key(raw: str) -> ApiKey | None:
    """The live key ``raw`` is, or None (unknown, revoked, or its user deactivated)."""
    raw = raw.strip()
    if not raw:
        return None
    key = (
        await ApiKey.objects.filter(key_hash=hash_api_key(raw), revoked_at__isnull=True)
        .filter(Q(user__isnull=True) | Q(user__is_active=True))
        .afirst()
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        # An UPDATE of one column, not save(): a concurrent revoke must not be overwritten.
        await ApiKey.objects.filter(pk=key.pk).aupdate(last_used_at=now)
        key.last_used_at = now
    return key


def revoke(key: ApiKey) -> None:
    """Revoke one key; it stops working on the next request (every request looks it up)."""
    revoke_all(ApiKey.objects.filter(pk=key.pk))
    key.refresh_from_db(fields=["revoked_at"])


def revoke_all(keys: QuerySet[ApiKey]) -> int:
    """Revoke every live key in ``keys``; returns how many were live. Already revoked keys keep
    their original revocation time, which is the one that matters in an audit."""
    return keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
