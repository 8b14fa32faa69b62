"""Authentication as django-ninja auth classes: the schemes /openapi.json documents, and a caller
refused before its body is looked at."""

from __future__ import annotations

import pytest
from django.test import AsyncClient

from agentsite.registry import all_specs

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMES = {"ApiKeyBearer", "DjangoUser", "MarkedBrowser"}


async def openapi() -> dict:
    response = await AsyncClient().get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict) -> dict[str, dict]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


async def test_schema_documents_every_scheme():
    schemes = (await openapi())["components"]["securitySchemes"]

    assert set(schemes) == SCHEMES
    assert schemes["ApiKeyBearer"]["type"] == "http"
    assert schemes["ApiKeyBearer"]["scheme"] == "bearer"
    for cookie in ("DjangoUser", "MarkedBrowser"):
        assert schemes[cookie]["type"] == "apiKey"
        assert schemes[cookie]["in"] == "cookie"
        assert schemes[cookie]["name"] == "sessionid"
    assert all(scheme["description"] for scheme in schemes.values())


async def test_every_api_operation_references_the_schemes_and_allows_anonymous():
    by_name = operations(await openapi())
    expected = [{name: []} for name in ("ApiKeyBearer", "DjangoUser", "MarkedBrowser")] + [{}]

    api_operations = {
        name: operation for name, operation in by_name.items() if name != "GET /health"
    }
    assert {f"POST /{spec.slug}/run" for spec in all_specs()} <= set(api_operations)
    assert "POST /research" in api_operations
    for name, operation in api_operations.items():
        assert operation["security"] == expected, name
    assert "security" not in by_name["GET /health"]


async def test_require_api_key_drops_the_keyless_schemes(settings):
    settings.REQUIRE_API_KEY = True
    schema = await openapi()

    assert set(schema["components"]["securitySchemes"]) == {"ApiKeyBearer", "DjangoUser"}
    for name, operation in operations(schema).items():
        if name != "GET /health":
            assert operation["security"] == [{"ApiKeyBearer": []}, {"DjangoUser": []}], name


async def test_a_refused_caller_learns_nothing_about_its_body(settings):
    """Authentication runs before the body is validated: a 401, not the body's 422."""
    settings.REQUIRE_API_KEY = True
    response = await AsyncClient().post("/chat/run", {"input": ""}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["success"] is False


async def test_a_cookie_post_that_is_not_json_is_refused_before_its_body_is_read():
    browser = AsyncClient()
    assert (await browser.get("/")).status_code == 200  # the page marks the browser
    response = await browser.post("/chat/run", b"input=hi", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["success"] is False
