"""Schemathesis against ``/openapi.json``: every operation, fed generated requests (valid and
invalid), answers with no 5xx, in the documented status codes and content types, with bodies
that match the schema; every 4xx is JSON in the documented error shape.

The app is driven in process through its ASGI entry point (the one daphne serves), on the test
database, with the offline model and no delay between words. ``make test`` runs a bounded
number of examples per operation (derandomized, so the run is the same every time);
``make fuzz`` sets ``FUZZ_EXAMPLES`` for a longer, randomized run.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import CheckContext
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case

pytestmark = pytest.mark.django_db(transaction=True)

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))
MAX_EXAMPLES = FUZZ_EXAMPLES or 12
# A long run explores; the bounded one in `make test` is the same every time.
DERANDOMIZE = not FUZZ_EXAMPLES


def load_schema() -> Any:
    """The app's OpenAPI schema, loaded through the app itself; requests go to the app.

    Loaded at import (``schemathesis.pytest.from_fixture`` does not work with pytest 9):
    ``/openapi.json`` touches no database.
    """
    from agentsite.asgi import application

    return schemathesis.openapi.from_asgi("/openapi.json", application)


schema = load_schema()


def error_shape(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx/5xx is JSON ``{"success": false, "error": "<non-empty text>", ...}``."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), (
        f"{response.status_code} answered as {content_type!r}: {response.text[:300]!r}"
    )
    body: Any = json.loads(response.text)
    assert isinstance(body, dict), f"error body is not an object: {body!r}"
    assert body.get("success") is False, f"error body without success=false: {body!r}"
    assert isinstance(body.get("error"), str), f"error body without an error message: {body!r}"
    assert body["error"].strip(), f"empty error message: {body!r}"
    assert "Traceback" not in response.text, response.text
    return True


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=DERANDOMIZE,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: Case):
    case.call_and_validate(checks=CHECKS, additional_checks=[error_shape])


# --- what the schema itself must get right (regressions found by the fuzzing) -----------------


def test_operation_ids_are_unique():
    """/chat and /assistant mount the same views: each operation still needs its own id (a
    duplicate makes the schema invalid and code generators overwrite one with the other)."""
    ids = [operation.definition.raw.get("operationId") for operation in operations()]
    assert None not in ids
    assert len(ids) == len(set(ids)), sorted(ids)
    assert {"chat_run", "assistant_run", "chat_stream", "assistant_get_session"} <= set(ids)


def test_event_streams_document_one_event():
    """For a text/event-stream, OpenAPI 3.1 tools read ``schema`` as the shape of each event
    (``data``, ``id``, ``event``, ``retry``), not of the whole stream as a string."""
    streams = [
        operation.definition.raw["responses"]["200"]["content"]["text/event-stream"]["schema"]
        for operation in operations()
        if "text/event-stream" in operation.definition.raw["responses"]["200"].get("content", {})
    ]
    # stream, resume, approvals (which may stream the resumed run), ui/chat, ui/chat resume and
    # ag-ui per agent; research/stream and its resume
    assert len(streams) == 14
    for event in streams:
        assert event["type"] == "object"
        assert event["properties"]["data"]["type"] == "string"
        assert event["properties"]["data"]["description"]


def operations() -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]
