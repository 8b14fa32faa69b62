"""The AI SDK and AG-UI protocols (DESIGN.md §8), driven by their real client libraries.

Each test runs a Node script (tests/js) that uses the library as an application does — the
``ai`` package's chat class behind ``useChat`` with ``DefaultChatTransport``, and
``@ag-ui/client``'s ``HttpAgent`` — against a real daphne server with the offline model, and
asserts on what the library handed the application: UI message parts and metadata, AG-UI
messages and events. The scripts also check every chunk/event the server sent against the
libraries' own zod schemas, made strict (no keys the schema does not name).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from agentsite.conversations.items import message_text
from tests.support.server import REPO_ROOT, ServerPool, ServerProcess, fresh_database

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

JS_CLIENTS = REPO_ROOT / "tests" / "js"
STORY = "tell me a long story"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("protocol-clients")
    with fresh_database(directory) as database_url, ServerPool(directory, database_url) as pool:
        # Words every 10 ms: a long story streams for about 7 s, time to stop or drop it.
        yield pool.start(OFFLINE_MODEL_DELAY="0.01")


def node(script: str, *args: str) -> dict[str, Any]:
    executable = shutil.which("node")
    if executable is None or not (JS_CLIENTS / "node_modules").is_dir():
        pytest.fail("node and tests/js/node_modules are needed: `make test` installs them")
    completed = subprocess.run(
        [executable, str(JS_CLIENTS / script), *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def ai_chat(server: ServerProcess, agent: str, scenario: str, text: str = "") -> dict[str, Any]:
    session = f"ai-{scenario}-{uuid.uuid4().hex[:8]}"
    result = node("ai_sdk_chat.mjs", server.url, agent, session, scenario, text)
    assert result["extraKeys"] == [], result["extraKeys"]
    result["session"] = session
    return result


def ag_ui(server: ServerProcess, agent: str, scenario: str, text: str = "") -> dict[str, Any]:
    thread = f"ag-{scenario}-{uuid.uuid4().hex[:8]}"
    result = node("ag_ui_agent.mjs", server.url, agent, thread, scenario, text)
    assert result["wire"]["invalid"] == [], result["wire"]["invalid"]
    result["thread"] = thread
    return result


def text_of(message: dict[str, Any]) -> str:
    return "".join(part["text"] for part in message["parts"] if part["type"] == "text")


def stored_reply(server: ServerProcess, agent: str, session: str) -> str:
    """The last assistant message the server stored for the conversation."""
    with server.client() as client:
        items = client.get(f"/{agent}/session/{session}").json()["messages"]
    replies = [item for item in items if item.get("role") == "assistant"]
    return message_text(replies[-1]["content"])


def run_status(server: ServerProcess, agent: str, run_id: str) -> dict[str, Any]:
    """The run's ledger entry once it has ended (a client that left does not wait for the
    server to notice)."""
    deadline = time.monotonic() + 10
    with server.client() as client:
        while True:
            status = client.get(f"/{agent}/runs/{run_id}").json()
            if status["status"] != "running" or time.monotonic() > deadline:
                return status
            time.sleep(0.1)


# --- AI SDK (useChat) -------------------------------------------------------------------


def test_ai_sdk_two_turns_share_the_conversation(server):
    result = ai_chat(server, "chat", "conversation")
    chat = result["chat"]
    assert chat["status"] == "ready" and chat["error"] is None
    roles = [message["role"] for message in chat["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    second = chat["messages"][3]
    assert "My favourite colour is teal." in text_of(second)
    metadata = second["metadata"]
    assert metadata["sessionId"] == result["session"]
    assert second["id"] == metadata["runId"]
    assert metadata["usage"]["totalTokens"] > 0 and metadata["usage"]["requests"] == 1
    assert text_of(second) == stored_reply(server, "chat", result["session"])


def test_ai_sdk_tool_call_becomes_a_tool_part(server):
    chat = ai_chat(server, "assistant", "ask", "what is 6*7?")["chat"]
    reply = chat["messages"][-1]
    tools = [part for part in reply["parts"] if part["type"] == "tool-calculate"]
    assert len(tools) == 1
    assert tools[0]["state"] == "output-available"
    assert tools[0]["input"] == {"expression": "6*7"} and tools[0]["output"] == "42"
    assert "returned 42" in text_of(reply)


def test_ai_sdk_handoff_is_a_data_part(server):
    chat = ai_chat(server, "assistant", "ask", "ask the math specialist to compute 12*12")["chat"]
    reply = chat["messages"][-1]
    handoffs = [part for part in reply["parts"] if part["type"] == "data-handoff"]
    assert [part["data"]["to"] for part in handoffs] == ["Math Specialist"]
    assert handoffs[0]["data"]["from"] == "Assistant"
    # The handoff is not shown as a tool call; the specialist's own tool call is.
    tool_parts = [part["type"] for part in reply["parts"] if part["type"].startswith("tool-")]
    assert tool_parts == ["tool-calculate"]
    assert reply["metadata"]["agentName"] == "Math Specialist"
    assert "returned 144" in text_of(reply)


def test_ai_sdk_stop_cancels_the_run(server):
    result = ai_chat(server, "assistant", "stop", STORY)
    reply = result["chat"]["messages"][-1]
    assert result["chat"]["status"] == "ready"
    status = run_status(server, "assistant", reply["metadata"]["runId"])
    assert status["status"] == "cancelled" and status["cancelled_by"] == "disconnect"
    assert "finish" not in result["chunkTypes"]
    assert len(text_of(reply)) < 400


def test_ai_sdk_server_side_cancel_ends_with_abort(server):
    result = ai_chat(server, "assistant", "cancel", STORY)
    assert result["cancelStatus"] == 200
    assert result["chunkTypes"][-1] == "abort"
    assert result["chat"]["status"] == "ready" and result["chat"]["error"] is None
    reply = result["chat"]["messages"][-1]
    assert run_status(server, "assistant", reply["metadata"]["runId"])["status"] == "cancelled"


def test_ai_sdk_resumes_a_reply_after_the_connection_drops(server):
    result = ai_chat(server, "assistant", "drop", STORY)
    partial = text_of(result["dropped"]["messages"][-1])
    assert partial, "nothing was read before the drop"
    messages = result["chat"]["messages"]
    assert [message["role"] for message in messages] == ["assistant"]
    full = text_of(messages[0])
    assert full.startswith(partial) and len(full) > len(partial)
    assert full == stored_reply(server, "assistant", result["session"])
    run_id = messages[0]["metadata"]["runId"]
    assert run_id == result["dropped"]["messages"][-1]["metadata"]["runId"]
    assert run_status(server, "assistant", run_id)["status"] == "completed"


def test_ai_sdk_resume_with_nothing_running_is_quiet(server):
    result = ai_chat(server, "assistant", "resume")
    assert result["chat"] == {"status": "ready", "error": None, "messages": []}
    assert result["chunkTypes"] == []


# --- AG-UI (HttpAgent) ------------------------------------------------------------------


def test_ag_ui_thread_remembers_and_a_new_client_gets_its_history(server):
    result = ag_ui(server, "chat", "conversation")
    assert "My favourite colour is teal." in result["second"]["result"]
    roles = [message["role"] for message in result["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    # A new HttpAgent on the same thread sent only its new message: the snapshot gives it
    # the whole thread, in order, before the reply.
    reopened = result["reopenedMessages"]
    assert [message["role"] for message in reopened] == ["user", "assistant"] * 3
    assert [message["content"] for message in reopened[::2]] == [
        "My favourite colour is teal.",
        "What did I tell you?",
        "And what else?",
    ]
    assert reopened[-1]["content"] == result["reopened"]["result"]
    snapshots = [i for i, kind in enumerate(result["eventTypes"]) if kind == "MESSAGES_SNAPSHOT"]
    assert len(snapshots) == 1
    assert result["eventTypes"][snapshots[0] - 1] == "RUN_STARTED"


def test_ag_ui_tool_call_events_and_messages(server):
    result = ag_ui(server, "assistant", "ask", "what is 6*7?")
    kinds = result["eventTypes"]
    for kind in ("TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT"):
        assert kinds.count(kind) == 1, kinds
    assert kinds[0] == "RUN_STARTED" and kinds[-1] == "RUN_FINISHED"
    calls = [m for m in result["messages"] if m["role"] == "assistant" and m.get("toolCalls")]
    function = calls[0]["toolCalls"][0]["function"]
    assert function["name"] == "calculate"
    assert json.loads(function["arguments"]) == {"expression": "6*7"}
    tool = [m for m in result["messages"] if m["role"] == "tool"]
    assert tool[0]["content"] == "42"
    assert tool[0]["toolCallId"] == calls[0]["toolCalls"][0]["id"]
    finished = result["events"][-1]
    assert finished["outcome"] == {"type": "success"}
    assert finished["usage"][0]["totalTokens"] > 0


def test_ag_ui_handoff_is_a_custom_event(server):
    result = ag_ui(server, "assistant", "ask", "ask the math specialist to compute 12*12")
    handoffs = [e for e in result["events"] if e["type"] == "CUSTOM" and e["name"] == "handoff"]
    assert [(e["value"]["from"], e["value"]["to"]) for e in handoffs] == [
        ("Assistant", "Math Specialist")
    ]
    names = [e["toolCallName"] for e in result["events"] if e["type"] == "TOOL_CALL_START"]
    assert names == ["calculate"]
    assert "returned 144" in result["messages"][-1]["content"]


def test_ag_ui_abort_cancels_the_run(server):
    result = ag_ui(server, "assistant", "stop", STORY)
    run_id = result["droppedAt"].rpartition(":")[0]
    status = run_status(server, "assistant", run_id)
    assert status["status"] == "cancelled" and status["cancelled_by"] == "disconnect"
    assert "RUN_FINISHED" not in result["eventTypes"]


def test_ag_ui_server_side_cancel_finishes_cancelled(server):
    result = ag_ui(server, "assistant", "cancel", STORY)
    assert result["cancelStatus"] == 200
    assert result["events"][-1]["type"] == "RUN_FINISHED"
    assert result["events"][-1]["outcome"] == {"type": "cancelled"}
    assert len(result["messages"][-1]["content"]) < 400


def test_ag_ui_resumes_with_last_event_id_after_a_drop(server):
    result = ag_ui(server, "assistant", "drop", STORY)
    dropped = result["dropped"][-1]["content"]
    messages = result["messages"]
    assert [message["role"] for message in messages] == ["user", "assistant"]
    full = messages[-1]["content"]
    assert full.startswith(dropped) and len(full) > len(dropped)
    assert full == stored_reply(server, "assistant", result["thread"])
    assert result["resumed"]["result"] == full
    assert result["eventTypes"].count("RUN_STARTED") == 2


# --- approvals (DESIGN.md §9) -----------------------------------------------------------

ASK_EMAIL = "Please email bob@example.com that the report is ready"


@pytest.mark.parametrize(
    ("scenario", "state"), [("approve", "output-available"), ("reject", "output-denied")]
)
def test_ai_sdk_tool_approval_round_trip(server, scenario, state):
    result = ai_chat(server, "assistant", scenario, ASK_EMAIL)
    paused = result["paused"]["messages"][-1]
    waiting = [part for part in paused["parts"] if part["type"] == "tool-send_email"]
    assert [part["state"] for part in waiting] == ["approval-requested"]
    chat = result["chat"]
    assert chat["status"] == "ready" and chat["error"] is None
    reply = chat["messages"][-1]
    assert reply["id"] == paused["id"]  # the same message goes on
    emails = [part for part in reply["parts"] if part["type"] == "tool-send_email"]
    assert [part["state"] for part in emails] == [state]
    assert run_status(server, "assistant", reply["metadata"]["runId"])["status"] == "completed"


@pytest.mark.parametrize("scenario", ["approve", "reject"])
def test_ag_ui_interrupt_answered_with_resume(server, scenario):
    result = ag_ui(server, "assistant", scenario, ASK_EMAIL)
    assert [interrupt["reason"] for interrupt in result["interrupts"]] == ["tool_approval"]
    assert "error" not in result["resumed"], result["resumed"]
    finished = [e for e in result["events"] if e["type"] == "RUN_FINISHED"]
    assert [e["outcome"]["type"] for e in finished] == ["interrupt", "success"]
    tool = [m for m in result["messages"] if m["role"] == "tool"]
    assert len(tool) == 1
