"""Admin hardening: a new API key is shown on the page, never parked in a cookie or session;
login throttling (django-axes); password reset only with email configured."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.models import Session
from django.test import Client

from agentsite.apikeys import hash_api_key
from agentsite.models import ApiKey

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
