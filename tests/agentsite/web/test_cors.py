"""CORS: listed origins may call the API from a browser, others get no CORS headers; never "*"."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse

from agentsite.web.cors import CorsMiddleware

pytestmark = pytest.mark.django_db(transaction=True)

APP = "https://app.example.com"
EVIL = "https://evil.example.net"


@pytest.fixture
def cors(settings):
    settings.CORS_ALLOWED_ORIGINS = [APP]
    settings.CORS_ALLOW_CREDENTIALS = False
    return settings


def preflight_headers(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


def vary(response: HttpResponse) -> set[str]:
    return {part.strip().lower() for part in response.get("Vary", "").split(",")}


async def test_allowed_origin_gets_its_exact_origin_back(client, cors):
    response = await client.get("/health", headers={"Origin": APP})
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert "origin" in vary(response)
    exposed = response["Access-Control-Expose-Headers"].split(", ")
    assert (
        exposed[0] == "X-Run-Id" and "Retry-After" in exposed and "X-RateLimit-Remaining" in exposed
    )
    assert "Access-Control-Allow-Credentials" not in response


async def test_credentials_only_when_enabled(client, cors):
    cors.CORS_ALLOW_CREDENTIALS = True
    response = await client.get("/chat/info", headers={"Origin": APP})
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert response["Access-Control-Allow-Credentials"] == "true"


async def test_disallowed_origin_gets_no_cors_headers(client, cors):
    cors.CORS_ALLOW_CREDENTIALS = True
    response = await client.get("/chat/info", headers={"Origin": EVIL})
    assert response.status_code == 200
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]
    # Still varies by Origin, so a shared cache never hands this answer to APP.
    assert "origin" in vary(response)


async def test_nothing_added_when_cors_is_off(client, settings):
    settings.CORS_ALLOWED_ORIGINS = []
    response = await client.get("/health", headers={"Origin": APP})
    assert "Access-Control-Allow-Origin" not in response
    assert "origin" not in vary(response)


async def test_preflight_for_allowed_origin(client, cors):
    response = await client.options("/chat/run", headers=preflight_headers(APP))
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == APP
    assert "POST" in response["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "last-event-id"} <= allowed
    assert int(response["Access-Control-Max-Age"]) > 0
    assert "origin" in vary(response)


async def test_preflight_with_credentials(client, cors):
    cors.CORS_ALLOW_CREDENTIALS = True
    response = await client.options("/chat/stream", headers=preflight_headers(APP))
    assert response["Access-Control-Allow-Credentials"] == "true"
    assert response["Access-Control-Allow-Origin"] == APP


async def test_preflight_for_disallowed_origin_grants_nothing(client, cors):
    response = await client.options("/chat/run", headers=preflight_headers(EVIL))
    assert response.status_code == 204
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Methods" not in response


async def test_html_paths_are_left_alone(client, cors):
    response = await client.get("/admin/login/", headers={"Origin": APP})
    assert "Access-Control-Allow-Origin" not in response
    preflight = await client.options("/admin/login/", headers=preflight_headers(APP))
    assert "Access-Control-Allow-Origin" not in preflight


async def test_error_responses_carry_cors_headers(client, cors):
    response = await client.get("/no/such/endpoint", headers={"Origin": APP})
    assert response.status_code == 404
    assert response.json()["success"] is False
    assert response["Access-Control-Allow-Origin"] == APP


async def test_listed_origin_matches_regardless_of_case_and_trailing_slash(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["HTTPS://App.Example.com/"]
    response = await client.get("/health", headers={"Origin": APP})
    assert response["Access-Control-Allow-Origin"] == APP


def test_wildcard_refused_when_the_middleware_loads(settings):
    settings.CORS_ALLOWED_ORIGINS = ["*"]
    with pytest.raises(ImproperlyConfigured, match="must not contain"):
        CorsMiddleware(lambda request: HttpResponse())


def test_wildcard_reported_by_system_check(settings):
    settings.CORS_ALLOWED_ORIGINS = [APP, "*"]
    assert "agentsite.E001" in {message.id for message in run_checks()}
    settings.CORS_ALLOWED_ORIGINS = [APP]
    assert "agentsite.E001" not in {message.id for message in run_checks()}
