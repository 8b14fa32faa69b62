"""The site's one NinjaAPI: a router for every agent and app endpoint the registry holds,
/health, OpenAPI docs, and the single place where errors become JSON responses
(``{"success": false, "error": ...}``)."""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.docs import Redoc

from agentsite.errors import (
    DATABASE_UNAVAILABLE,
    AgentSiteError,
    DatabaseUnavailable,
    Unauthorized,
    forget_broken_connections,
)
from agentsite.providers.check import cached_provider_status, health_summary
from agentsite.providers.selection import is_offline, provider_name
from agentsite.registry import all_endpoints, all_specs
from agentsite.web.routes import agent_router
from agentsite.web.schemas import HealthOut, ProviderStatusOut, describe_validation_errors
from agentsite.web.security import CALLER_AUTH, document_keyless_access

logger = logging.getLogger(__name__)


class AgentSiteAPI(NinjaAPI):
    """ninja's API, with each operation's ``security`` finished from the current settings
    (the keyless schemes exist only without REQUIRE_API_KEY): ninja cannot express that."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        return document_keyless_access(schema)


# Every operation authenticates its caller (agentsite.web.security) unless it says auth=None.
api = AgentSiteAPI(
    title="agentsite",
    version="1.0",
    description=(
        "OpenAI Agents SDK agents over REST and Server-Sent Events, with conversations stored "
        'in Django models. Errors are JSON: `{"success": false, "error": "..."}`.'
    ),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=CALLER_AUTH,
)


def mount_registered_routes() -> None:
    """Mount what the apps declared in ``AppConfig.ready()``: the shared routes of every agent,
    then every app endpoint's own router. Importing this module before the apps are ready
    would mount nothing, so that fails loudly instead."""
    apps.check_apps_ready()
    for spec in all_specs():
        api.add_router(f"/{spec.slug}", agent_router(spec))
    for endpoint in all_endpoints():
        api.add_router(f"/{endpoint.prefix}", endpoint.router)


mount_registered_routes()
# The caller's conversations across every agent (the web UI's one list).
api.add_router("/conversations", "agentsite.web.conversation_routes.router")
# The caller's quotas and usage (GET /me/usage).
api.add_router("/me", "agentsite.web.usage_routes.router")


@api.get("/health", response={200: HealthOut, 503: HealthOut}, tags=["site"], auth=None)
async def health(request: HttpRequest) -> Status[HealthOut]:
    status, body = await check_health()
    return Status(status, body)


@api.api_operation(["HEAD"], "/health", include_in_schema=False, auth=None)
async def health_head(request: HttpRequest) -> HttpResponse:
    """Load balancers and uptime probes often ask with HEAD: GET's status, no body."""
    status, _ = await check_health()
    return HttpResponse(status=status, content_type="application/json")


async def check_health() -> tuple[int, HealthOut]:
    """503 only when the database is down: that is this process's to fix (a load balancer
    should stop sending it requests). An unusable model provider is outside every process, so
    it makes the status ``degraded`` and says why in ``provider_status``, still with 200."""
    database = "ok"
    try:
        await _ping_database()
    except Exception as exc:
        logger.warning("health check: database unavailable: %s", exc)
        database = "unavailable"
    provider = await cached_provider_status()
    body = HealthOut(
        status="ok" if database == "ok" and provider.ok else "degraded",
        database=database,
        provider=provider_name(),
        offline=is_offline(),
        agents=[spec.slug for spec in all_specs()],
        provider_status=ProviderStatusOut(**health_summary(provider)),
    )
    return (200 if database == "ok" else 503), body


async def _ping_database() -> None:
    from asgiref.sync import sync_to_async

    def ping() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    await sync_to_async(ping)()


def redoc(request: HttpRequest) -> HttpResponse:
    return Redoc().render_page(request, api)


def error_response(
    request: HttpRequest, status: int, message: str, detail: Any = None, code: str | None = None
) -> HttpResponse:
    body: dict[str, Any] = {"success": False, "error": message}
    if code is not None:
        body["code"] = code
    if detail is not None:
        body["detail"] = detail
    return api.create_response(request, body, status=status)


@api.exception_handler(AgentSiteError)
def on_domain_error(request: HttpRequest, exc: AgentSiteError) -> HttpResponse:
    response = error_response(request, exc.status, exc.message, code=exc.code)
    for name, value in exc.response_headers().items():  # Retry-After of a quota's 429
        response[name] = value
    return response


def on_database_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The database is down or dropped the connection: a 503 the client can retry, not a 500
    page (a query the database rejected is still a bug, and still a 500)."""
    logger.warning("database unavailable: %s %s: %s", request.method, request.path, exc)
    forget_broken_connections()
    error = DatabaseUnavailable()
    return error_response(request, error.status, error.message, code=error.code)


for database_error in DATABASE_UNAVAILABLE:
    # ninja types a handler's argument as "the exception or its class"; it is the exception.
    api.add_exception_handler(database_error, on_database_error)  # type: ignore[arg-type]


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    problems = describe_validation_errors(exc.errors)
    return error_response(
        request, 422, f"Invalid request: {problems}", exc.errors, code="invalid_request"
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    message = str(exc)
    if exc.status_code == 400 and message.startswith("Cannot parse request body"):
        message = "Malformed JSON in request body"
    return error_response(request, exc.status_code, message)


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    """No auth class answered (the last, ``Anonymous``, always does): the usual 401 anyway."""
    error = Unauthorized()
    return error_response(request, error.status, error.message, code=error.code)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, 404, str(exc) or "Not found")
