"""HTTP hardening: CSRF on bodiless cookie POSTs, malformed Authorization headers, /info behind
REQUIRE_API_KEY, JSON for a disallowed Host on API paths, HEAD /health."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from agentsite.web.apikeys import generate_api_key

pytestmark = pytest.mark.django_db(transaction=True)
agenerate = sync_to_async(generate_api_key)


async def browser() -> AsyncClient:
    client = AsyncClient()
    assert (await client.get("/")).status_code == 200  # the page marks the browser
    return client


def bodiless_posts() -> list[str]:
    return ["/chat/session/s-1/rewind", f"/chat/runs/{uuid.uuid4()}/cancel"]


async def post_without_body(
    client: AsyncClient, path: str, content_type: str | None, **headers: str
) -> object:
    """A POST with no body at all (``client.post`` would send an empty multipart form)."""
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await client.generic("POST", path, headers=headers)


# --- a cookie-authenticated POST must declare JSON even with no body (cross-site forms)


@pytest.mark.parametrize("path", bodiless_posts())
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
async def test_bodiless_cookie_post_that_is_not_json_is_refused(path, content_type):
    client = await browser()
    response = await post_without_body(client, path, content_type)
    assert response.status_code == 415, response.content
    assert response.json()["success"] is False


@pytest.mark.parametrize("path", bodiless_posts())
async def test_bodiless_json_cookie_post_and_keyed_or_anonymous_posts_pass(path):
    client = await browser()
    declared = await post_without_body(client, path, "application/json")
    _, raw = await agenerate("script")
    keyed = await post_without_body(AsyncClient(), path, None, Authorization=f"Bearer {raw}")
    anonymous = await post_without_body(AsyncClient(), path, None)
    # Nothing to rewind or cancel: past the content-type check, the service answers 404.
    assert [declared.status_code, keyed.status_code, anonymous.status_code] == [404] * 3


# --- Authorization: Bearer only; anything else the client sent is a 401, never anonymous


@pytest.mark.parametrize("scheme", ["Token {raw}", "{raw}", "ApiKey {raw}", "", "Bearer{raw}"])
async def test_malformed_authorization_is_401_json(scheme):
    _, raw = await agenerate("script")
    response = await AsyncClient().get(
        "/chat/sessions", headers={"Authorization": scheme.format(raw=raw)}
    )
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["success"] is False
    assert raw not in body["error"]


async def test_basic_auth_of_a_proxy_in_front_still_passes():
    response = await AsyncClient().get(
        "/chat/sessions", headers={"Authorization": "Basic dXNlcjpwYXNz"}
    )
    assert response.status_code == 200


# --- REQUIRE_API_KEY covers /info (instructions); /health stays open


async def test_info_needs_the_key_when_keys_are_required(settings):
    settings.REQUIRE_API_KEY = True
    _, raw = await agenerate("script")
    refused = await AsyncClient().get("/chat/info")
    allowed = await AsyncClient().get("/chat/info", headers={"Authorization": f"Bearer {raw}"})
    health = await AsyncClient().get("/health")

    assert refused.status_code == 401
    assert "instructions" not in refused.json()
    assert allowed.status_code == 200 and allowed.json()["instructions"]
    assert health.status_code == 200


async def test_info_stays_open_without_required_keys():
    response = await AsyncClient().get("/chat/info")
    assert response.status_code == 200 and response.json()["instructions"]


# --- a disallowed Host: JSON 400 on API paths, Django's page elsewhere


@pytest.mark.parametrize("path", ["/chat/info", "/health", "/chat/sessions", "/no/such/path"])
async def test_disallowed_host_on_an_api_path_is_json_400(path):
    response = await AsyncClient().get(path, headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False and "evil.example" not in body["error"]


async def test_disallowed_host_on_a_page_keeps_the_html_answer():
    response = await AsyncClient().get("/admin/login/", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert not response["Content-Type"].startswith("application/json")


# --- HEAD /health


async def test_head_health_is_200_with_no_body():
    response = await AsyncClient().head("/health")
    assert response.status_code == 200
    assert response.content == b""
