"""API keys: issued once, stored only as a hash, recognised, revoked; and their admin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.utils import timezone

from agentsite.models import ApiKey
from agentsite.web.apikeys import (
    KEY_PREFIX,
    PREFIX_LENGTH,
    authenticate_api_key,
    generate_api_key,
    hash_api_key,
    revoke,
    revoke_all,
)

async_db = pytest.mark.django_db(transaction=True)
agenerate = sync_to_async(generate_api_key)


def stored_values(key: ApiKey) -> list[str]:
    """Every column of the key's row, as text, read back from the database."""
    row = ApiKey.objects.filter(pk=key.pk).values().get()
    return [str(value) for value in row.values()]


@pytest.mark.django_db
def test_generate_returns_plaintext_once_and_stores_prefix_and_hash():
    key, raw = generate_api_key("ci")
    assert raw.startswith(KEY_PREFIX) and len(raw) > 40
    key.refresh_from_db()
    assert key.prefix == raw[:PREFIX_LENGTH]
    assert key.key_hash == hash_api_key(raw) and len(key.key_hash) == 64
    assert key.owner_key == f"key:{key.pk}"
    assert key.revoked_at is None and key.last_used_at is None


@pytest.mark.django_db
def test_plaintext_is_nowhere_in_the_database():
    key, raw = generate_api_key("ci")
    secret_part = raw[PREFIX_LENGTH:]
    assert all(secret_part not in value for value in stored_values(key))


@pytest.mark.django_db
def test_two_keys_differ():
    (first, raw_first), (second, raw_second) = generate_api_key("a"), generate_api_key("b")
    assert raw_first != raw_second
    assert first.key_hash != second.key_hash


@async_db
async def test_authenticate_finds_the_key_and_records_use():
    key, raw = await agenerate("ci")
    found = await authenticate_api_key(raw)
    assert found is not None and found.pk == key.pk
    stored = await ApiKey.objects.aget(pk=key.pk)
    assert stored.last_used_at is not None


@async_db
async def test_last_used_is_written_at_most_once_a_minute():
    key, raw = await agenerate("ci")
    recent = timezone.now() - timedelta(seconds=20)
    await ApiKey.objects.filter(pk=key.pk).aupdate(last_used_at=recent)
    await authenticate_api_key(raw)
    assert (await ApiKey.objects.aget(pk=key.pk)).last_used_at == recent

    stale = timezone.now() - timedelta(minutes=5)
    await ApiKey.objects.filter(pk=key.pk).aupdate(last_used_at=stale)
    await authenticate_api_key(raw)
    assert (await ApiKey.objects.aget(pk=key.pk)).last_used_at > stale


@async_db
@pytest.mark.parametrize("raw", ["", "   ", "ask_not-a-real-key", "something else entirely"])
async def test_unknown_keys_are_not_recognised(raw):
    await agenerate("ci")
    assert await authenticate_api_key(raw) is None


@async_db
async def test_revoked_key_is_not_recognised():
    key, raw = await agenerate("ci")
    await sync_to_async(revoke)(key)
    assert key.revoked_at is not None
    assert await authenticate_api_key(raw) is None


@async_db
async def test_key_of_a_deactivated_user_is_not_recognised():
    user = await get_user_model().objects.acreate(username="gone", is_active=False)
    _, raw = await agenerate("ci", user=user)
    assert await authenticate_api_key(raw) is None


@pytest.mark.django_db
def test_revoke_all_counts_live_keys_and_keeps_first_revocation_time():
    first, _ = generate_api_key("a")
    second, _ = generate_api_key("b")
    revoke(first)
    first_revoked_at = first.revoked_at
    assert revoke_all(ApiKey.objects.all()) == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.revoked_at == first_revoked_at
    assert second.revoked_at is not None


# --- admin


@pytest.mark.django_db
def test_admin_add_shows_the_key_once_and_stores_only_its_hash(admin_client, admin_user):
    page = admin_client.post(
        "/admin/agentsite/apikey/add/", {"name": "ci bot", "user": admin_user.pk}, follow=True
    )
    assert page.status_code == 200
    html = page.content.decode()
    match = re.search(r"<code>(ask_[A-Za-z0-9_-]+)</code>", html)
    assert match, html
    raw = match.group(1)
    assert "copy it now" in html

    key = ApiKey.objects.get()
    assert (key.name, key.user_id) == ("ci bot", admin_user.pk)
    assert key.key_hash == hash_api_key(raw) and key.prefix == raw[:PREFIX_LENGTH]
    assert all(raw[PREFIX_LENGTH:] not in value for value in stored_values(key))
    # Not parked in a server-side session either.
    assert all(raw not in str(session.get_decoded()) for session in Session.objects.all())

    later = admin_client.get("/admin/agentsite/apikey/").content.decode()
    assert key.prefix in later and raw not in later
    assert raw not in admin_client.get(f"/admin/agentsite/apikey/{key.pk}/change/").content.decode()


@pytest.mark.django_db
def test_admin_add_form_asks_only_name_and_user(admin_client):
    html = admin_client.get("/admin/agentsite/apikey/add/").content.decode()
    assert 'name="name"' in html and 'name="user"' in html
    for hidden in ("prefix", "key_hash", "revoked_at", "last_used_at"):
        assert f'name="{hidden}"' not in html


@pytest.mark.django_db
def test_admin_cannot_edit_or_delete_a_key(admin_client, admin_user):
    key, _ = generate_api_key("original")
    admin_client.post(
        f"/admin/agentsite/apikey/{key.pk}/change/", {"name": "renamed", "user": admin_user.pk}
    )
    key.refresh_from_db()
    assert key.name == "original" and key.user_id is None
    assert admin_client.get(f"/admin/agentsite/apikey/{key.pk}/delete/").status_code == 403


@pytest.mark.django_db
def test_admin_revoke_action(admin_client):
    target, raw = generate_api_key("leaked")
    bystander, _ = generate_api_key("fine")
    page = admin_client.post(
        "/admin/agentsite/apikey/",
        {"action": "revoke_selected", "_selected_action": [target.pk]},
        follow=True,
    )
    assert "Revoked 1 key(s)." in page.content.decode()
    target.refresh_from_db()
    bystander.refresh_from_db()
    assert target.revoked_at is not None and bystander.revoked_at is None
    assert async_to_sync(authenticate_api_key)(raw) is None


@pytest.mark.django_db
def test_admin_list_columns(admin_client):
    generate_api_key("listed")
    html = admin_client.get("/admin/agentsite/apikey/").content.decode()
    for column in ("name", "prefix", "user", "created", "last used", "revoked"):
        assert column in html.lower()
    assert "listed" in html
