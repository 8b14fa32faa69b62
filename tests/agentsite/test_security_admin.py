"""Admin hardening: a new API key is shown on the page, never parked in a cookie or session;
login throttling (django-axes); password reset only with email configured."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.models import Session
from django.test import AsyncClient, Client

from agentsite.models import ApiKey
from agentsite.web.apikeys import hash_api_key

pytestmark = pytest.mark.django_db


def test_a_new_key_is_on_the_answer_page_and_in_no_cookie(admin_client, admin_user):
    response = admin_client.post(
        "/admin/agentsite/apikey/add/", {"name": "ci bot", "user": admin_user.pk}
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    match = re.search(r"<code>(ask_[A-Za-z0-9_-]+)</code>", response.content.decode())
    assert match, response.content.decode()
    raw = match.group(1)
    assert ApiKey.objects.get().key_hash == hash_api_key(raw)

    for cookie in [*response.cookies.values(), *admin_client.cookies.values()]:
        assert raw not in cookie.value
        decoded = CookieStorage(response.wsgi_request)._decode(cookie.value)
        assert raw not in str(decoded), cookie.key
    assert all(raw not in str(session.get_decoded()) for session in Session.objects.all())
    # Nothing is waiting to be shown on the next page either.
    assert raw not in admin_client.get("/admin/agentsite/apikey/").content.decode()


def test_key_admin_pages_still_work_after_issuing(admin_client, admin_user):
    admin_client.post("/admin/agentsite/apikey/add/", {"name": "ci bot", "user": admin_user.pk})
    key = ApiKey.objects.get()
    assert admin_client.get(f"/admin/agentsite/apikey/{key.pk}/change/").status_code == 200
    assert Client().get("/admin/agentsite/apikey/add/").status_code == 302  # login required


# --- login throttling (django-axes): by username and address, the right password included


async def attempt(client: AsyncClient, path: str, password: str) -> int:
    response = await client.post(path, {"username": "admin", "password": password})
    return response.status_code


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/admin/login/", "/accounts/login/"])
async def test_the_sixth_login_after_five_failures_is_locked_out(path):
    await sync_to_async(get_user_model().objects.create_superuser)("admin", "a@x.org", "right-pw")
    client = AsyncClient()
    failures = [await attempt(client, path, f"wrong-{n}") for n in range(5)]
    locked = await client.post(path, {"username": "admin", "password": "right-pw"})

    # The form again with its error four times; the fifth failure locks (LOGIN_FAILURE_LIMIT).
    assert failures == [200] * 4 + [429]
    assert locked.status_code == 429
    assert (await client.get("/admin/")).status_code == 302  # not logged in


@pytest.mark.django_db(transaction=True)
async def test_a_lockout_is_per_username_and_a_success_resets_the_count():
    users = get_user_model().objects
    await sync_to_async(users.create_superuser)("admin", "a@x.org", "right-pw")
    await sync_to_async(users.create_superuser)("other", "o@x.org", "other-pw")
    client = AsyncClient()
    for n in range(4):
        await attempt(client, "/admin/login/", f"wrong-{n}")
    assert await attempt(client, "/admin/login/", "right-pw") == 302  # logged in; count reset
    await client.alogout()
    for n in range(4):
        await attempt(client, "/admin/login/", f"wrong-{n}")
    assert await attempt(client, "/admin/login/", "right-pw") == 302

    for n in range(5):
        await attempt(client, "/admin/login/", f"wrong-{n}")
    other = await client.post("/admin/login/", {"username": "other", "password": "other-pw"})
    assert other.status_code == 302  # another username from the same address is not locked


# --- password reset only with email configured


def test_password_reset_is_not_found_without_email():
    client = Client()
    assert client.get("/accounts/password_reset/").status_code == 404
    assert client.post("/accounts/password_reset/", {"email": "a@x.org"}).status_code == 404
    assert client.get("/accounts/reset/MQ/set-password/").status_code == 404


def test_password_reset_works_with_email_configured(settings, admin_user, mailoutbox):
    client = Client()
    settings.EMAIL_URL = "smtp://mail.example.com:25"
    assert client.get("/accounts/password_reset/").status_code == 200
    response = client.post("/accounts/password_reset/", {"email": admin_user.email})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
