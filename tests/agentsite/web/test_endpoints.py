"""run / session / info / health / docs: the FastAPI app's JSON shapes, served by Django."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from agents.testing import ModelStep, assistant_message

from agentsite.models import Conversation
from tests.agentsite.web.contract import RUN_RESPONSE_KEYS, USAGE_KEYS
from tests.support.sse import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)


async def post(client, path: str, body: dict):
    return await client.post(path, body, content_type="application/json")


async def test_run_shape_and_memory(client):
    first = await post(
        client, "/chat/run", {"input": "My name is Ada, I work as a nurse.", "session_id": "m1"}
    )
    assert first.status_code == 200
    body = first.json()
    assert set(body) == RUN_RESPONSE_KEYS | {"code"}
    assert set(body["usage"]) == USAGE_KEYS
    assert body["success"] is True and body["error"] is None
    assert body["session_id"] == "m1"
    assert body["response_id"].startswith("resp_offline_")
    second = (
        await post(client, "/chat/run", {"input": "What work do I do?", "session_id": "m1"})
    ).json()
    assert "My name is Ada, I work as a nurse." in second["final_output"]


async def test_run_without_session_is_stateless(client):
    body = (await post(client, "/chat/run", {"input": "Remember 7"})).json()
    assert body["session_id"] is None
    assert await Conversation.objects.acount() == 0


async def test_list_input_items_and_context(client):
    body = {
        "input": [{"role": "user", "content": "Hello from a list"}],
        "context": {"locale": "en"},
        "session_id": "list-1",
    }
    response = await post(client, "/chat/run", body)
    assert response.status_code == 200
    assert "Hello from a list" in response.json()["final_output"]


async def test_get_session_and_limit(client):
    for text in ("one", "two", "three"):
        await post(client, "/chat/run", {"input": text, "session_id": "s-lim"})
    full = (await client.get("/chat/session/s-lim")).json()
    assert set(full) == {"session_id", "messages", "message_count", "success", "error"} | {
        "total",
        "has_more",
        "next_before",
        "item_times",
        "runs",
        "item_positions",
        "branch",
        "branch_count",
        "forks",
        "feedback",
    }
    assert full["message_count"] == 6 == len(full["messages"])
    assert [m["content"] for m in full["messages"] if m.get("role") == "user"] == [
        "one",
        "two",
        "three",
    ]
    latest = (await client.get("/chat/session/s-lim?limit=2")).json()
    assert latest["messages"] == full["messages"][-2:]
    assert latest["message_count"] == 2


async def test_unknown_session_is_empty(client):
    body = (await client.get("/chat/session/never-used")).json()
    assert body == {
        "session_id": "never-used",
        "messages": [],
        "message_count": 0,
        "success": True,
        "error": None,
        "total": 0,
        "has_more": False,
        "next_before": None,
        "item_times": [],
        "runs": [],
        "item_positions": [],
        "branch": 1,
        "branch_count": 1,
        "forks": [],
        "feedback": [],
    }


async def test_sessions_are_per_agent(client):
    await post(client, "/chat/run", {"input": "for chat", "session_id": "shared"})
    assert (await client.get("/assistant/session/shared")).json()["message_count"] == 0
    assert (await client.get("/chat/session/shared")).json()["message_count"] == 2


async def test_delete_session(client):
    await post(client, "/chat/run", {"input": "forget me", "session_id": "del-1"})
    response = await client.delete("/chat/session/del-1")
    assert response.status_code == 200
    assert response.json() == {"message": "Session del-1 cleared successfully", "success": True}
    assert (await client.get("/chat/session/del-1")).json()["message_count"] == 0
    assert not await Conversation.objects.filter(session_id="del-1").aexists()


async def test_info(client):
    body = (await client.get("/assistant/info")).json()
    assert {
        "name",
        "agent_name",
        "instructions",
        "model",
        "tools_count",
        "handoffs_count",
        "endpoints",
        "session_config",
    } <= set(body)
    # The FastAPI app passed ``agent.name``: the display name, not the mount path.
    assert body["name"] == "Assistant"
    assert body["agent_name"] == "Assistant"
    assert body["slug"] == "assistant"
    assert body["tools_count"] == 3 and body["handoffs_count"] == 1
    assert body["tools"] == ["current_time", "calculate", "send_email"]
    assert body["endpoints"] == {
        "run": "/assistant/run",
        "stream": "/assistant/stream",
        "get_session": "/assistant/session/{session_id}",
        "clear_session": "/assistant/session/{session_id}",
        "info": "/assistant/info",
        "sessions": "/assistant/sessions",
        "rewind": "/assistant/session/{session_id}/rewind",
        "fork": "/assistant/session/{session_id}/fork",
        "branch": "/assistant/session/{session_id}/branch",
        "feedback": "/assistant/session/{session_id}/items/{position}/feedback",
        "run_status": "/assistant/runs/{run_id}",
        "resume": "/assistant/runs/{run_id}/stream",
        "cancel": "/assistant/runs/{run_id}/cancel",
        "approvals": "/assistant/runs/{run_id}/approvals",
        "websocket": "/ws/assistant/",
        "ui_chat": "/assistant/ui/chat",
        "ui_chat_resume": "/assistant/ui/chat/{session_id}/stream",
        "ag_ui": "/assistant/ag-ui",
    }
    config = body["session_config"]
    assert config["sessions_enabled"] is True and config["enabled"] is True
    assert config["db_path"] and "/" not in config["db_path"]
    assert config["env_variables"]["ENABLE_SESSIONS"] == "true"
    assert body["offline"] is True and body["model"] == "offline"
    assert body["handoffs"] == ["Math Specialist"]


async def test_info_endpoints_all_exist(client):
    """Every HTTP endpoint /info names is a real route of the API."""
    body = (await client.get("/chat/info")).json()
    paths = (await client.get("/openapi.json")).json()["paths"]
    http = {name: path for name, path in body["endpoints"].items() if name != "websocket"}
    assert set(http.values()) <= set(paths), set(http.values()) - set(paths)


async def test_info_dynamic_instructions(client, monkeypatch):
    from agentsite.registry import get_spec

    agent = get_spec("chat").agent
    monkeypatch.setattr(agent, "instructions", lambda context, agent: "per-run text")
    assert (await client.get("/chat/info")).json()["instructions"] == "Dynamic instructions"


async def test_info_names_configured_model_when_online(client, settings):
    settings.MODEL_PROVIDER = "openai"
    settings.AGENT_MODEL = "gpt-test-small"
    settings.AGENT_MODEL_OVERRIDES = {"assistant": "gpt-test-large"}
    assert (await client.get("/chat/info")).json()["model"] == "gpt-test-small"
    body = (await client.get("/assistant/info")).json()
    assert body["model"] == "gpt-test-large"
    assert body["offline"] is False


async def test_health_and_docs(client):
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["database"] == "ok"
    assert set(health.json()["agents"]) >= {"chat", "assistant"}
    schema = (await client.get("/openapi.json")).json()
    for path in (
        "/chat/run",
        "/chat/stream",
        "/chat/session/{session_id}",
        "/chat/info",
        "/assistant/run",
        "/health",
    ):
        assert path in schema["paths"], path
    assert (await client.get("/docs")).status_code == 200
    redoc = await client.get("/redoc")
    assert redoc.status_code == 200
    assert b"redoc" in redoc.content.lower()


async def test_sessions_disabled(client, settings):
    settings.ENABLE_SESSIONS = False
    body = (await post(client, "/chat/run", {"input": "hello", "session_id": "ignored"})).json()
    assert body["success"] is True
    assert body["session_id"] is None
    assert await Conversation.objects.acount() == 0
    response = await client.get("/chat/session/ignored")
    assert response.status_code == 404
    assert response.json()["success"] is False


async def test_second_concurrent_run_gets_409(client, use_scripted_model):
    release = asyncio.Event()

    async def after_release(call):
        await release.wait()
        return [assistant_message("done")]

    use_scripted_model(
        [
            ModelStep.respond(after_release),
            [assistant_message("free")],
            [assistant_message("after")],
        ]
    )
    first = await post(client, "/chat/stream", {"input": "long task", "session_id": "busy"})
    reader = asyncio.ensure_future(asyncio.wait_for(_collect(first), timeout=10))
    await asyncio.sleep(0.05)
    busy_run = await post(client, "/chat/run", {"input": "me too", "session_id": "busy"})
    assert busy_run.status_code == 409
    assert busy_run.json()["success"] is False
    busy_stream = await post(client, "/chat/stream", {"input": "me too", "session_id": "busy"})
    assert busy_stream.status_code == 409
    busy_delete = await client.delete("/chat/session/busy")
    assert busy_delete.status_code == 409
    other = await post(client, "/chat/run", {"input": "elsewhere", "session_id": "free"})
    assert other.status_code == 200
    release.set()
    events = parse_sse(await reader)
    assert events[-1]["type"] == "stream_complete"
    after = await post(client, "/chat/run", {"input": "now", "session_id": "busy"})
    assert after.status_code == 200


async def _collect(response) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


async def test_rewind_removes_the_last_turn(client):
    for text in ("one", "two"):
        await post(client, "/chat/run", {"input": text, "session_id": "rw"})
    response = await client.post("/chat/session/rw/rewind", content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"input": "two", "success": True}
    left = (await client.get("/chat/session/rw")).json()["messages"]
    assert [m["content"] for m in left if m.get("role") == "user"] == ["one"]
    assert len(left) == 2
    conversation = await Conversation.objects.aget(session_id="rw")
    assert conversation.item_count == 2
    again = await post(client, "/chat/run", {"input": "two", "session_id": "rw"})
    assert again.status_code == 200
    assert (await client.get("/chat/session/rw")).json()["message_count"] == 4


async def test_rewind_with_nothing_to_rewind_is_404(client):
    response = await client.post("/chat/session/empty/rewind", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["success"] is False


# --- the database goes away (end to end: tests/agentsite/runs/test_database_outage.py) ---


def database_down(*args, **kwargs):
    from django.db import OperationalError

    raise OperationalError("connection failed: server closed the connection unexpectedly")


CLAIM = "runs.service.claim_conversation"


@pytest.mark.parametrize(
    ("method", "path", "body", "patched"),
    [
        (
            "post",
            "/chat/run",
            {"input": "hi", "session_id": "db-1"},
            "runs.service.claim_conversation",
        ),
        (
            "post",
            "/chat/stream",
            {"input": "hi", "session_id": "db-1"},
            "runs.service.claim_conversation",
        ),
        ("get", "/chat/sessions", None, "web.routes.list_conversations"),
        ("get", "/chat/session/db-1", None, "conversations.session.DjangoSession.read_page"),
    ],
)
async def test_database_unavailable_is_a_json_503(client, monkeypatch, method, path, body, patched):
    """A lost database connection is a 503 the client may retry, in the error shape, not
    Django's 500 page."""
    module, _, name = patched.rpartition(".")
    owner = None
    if module.split(".")[-1][0].isupper():
        module, _, owner = module.rpartition(".")
    target = importlib.import_module(f"agentsite.{module}")
    if owner:
        target = getattr(target, owner)
    monkeypatch.setattr(target, name, database_down)
    if method == "post":
        response = await post(client, path, body)
    else:
        response = await client.get(path)
    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/json")
    payload = response.json()
    assert (payload["success"], payload["error"]) == (
        False,
        "The database is unavailable; try again shortly",
    )
    if path == "/chat/run":
        # /run errors carry all its usual keys.
        assert set(payload) == RUN_RESPONSE_KEYS | {"code"}
        assert payload["session_id"] == "db-1"
    else:
        assert set(payload) == {"success", "error", "code"}
        assert payload["code"] == "database_unavailable"


def test_run_errors_from_a_lost_database_are_503():
    from django.db import IntegrityError, InterfaceError, OperationalError

    from agentsite.errors import translate_error

    assert translate_error(OperationalError("server closed the connection")).status == 503
    assert translate_error(InterfaceError("the connection is closed")).status == 503
    # A query the database rejected is a bug, not an outage.
    assert translate_error(IntegrityError("duplicate key")).status == 500


async def test_a_broken_connection_of_the_run_thread_is_dropped(settings):
    """Runs use asgiref's one process-wide thread, where no request ever closes connections:
    after a database error it must drop a connection the outage broke, or every later run
    fails with "the connection is closed" although the database is back. Checked from inside a
    request's context, where ``sync_to_async`` alone would pick the request's thread. (With
    several database threads, tests/agentsite/conversations/test_dbthread.py.)"""
    from asgiref.sync import ThreadSensitiveContext
    from django.db import connections

    from agentsite.conversations.dbthread import in_database_thread
    from agentsite.errors import forget_broken_connections

    settings.DATABASE_THREADS = 1

    @in_database_thread
    def break_connection() -> None:
        connection = connections["default"]
        connection.ensure_connection()
        connection.errors_occurred = True
        connection.is_usable = lambda: False  # as psycopg reports a connection the server cut

    @in_database_thread
    def state() -> object:
        return connections["default"].connection

    @in_database_thread
    def mend() -> None:
        vars(connections["default"]).pop("is_usable", None)

    await break_connection()
    try:
        assert await state() is not None
        async with ThreadSensitiveContext():
            forget_broken_connections()
        pending = asyncio.all_tasks() - {asyncio.current_task()}
        await asyncio.gather(*pending)
        assert await state() is None, "the broken connection was kept"
    finally:
        await mend()
