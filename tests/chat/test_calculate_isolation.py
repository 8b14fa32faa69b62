"""The calculator's computation cannot stall the server: while one runs, other requests are
answered, and stopping the run kills the computation."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from agents.testing import assistant_message, function_call

import chat.tools
from tests.support import slow_tools

pytestmark = pytest.mark.django_db(transaction=True)


def exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def written(path: Path) -> bool:
    return path.exists() and bool(path.read_text())


async def wait_for_file(path: Path) -> None:
    async with asyncio.timeout(30):
        while not written(path):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.fixture
def held_calculation(monkeypatch, tmp_path, use_scripted_model):
    """The assistant's next run calls ``calculate``, whose computation holds until
    ``tmp_path/release`` exists (slow but allowed, like a long calculation)."""
    monkeypatch.setattr(chat.tools, "calculation_text", slow_tools.hold_in, raising=False)
    # The calculator before it ran in a worker, so this test can show what it fixed.
    monkeypatch.setattr(chat.tools, "evaluate_arithmetic", slow_tools.hold_in, raising=False)
    use_scripted_model(
        [
            [function_call("calculate", {"expression": str(tmp_path)}, call_id="call_1")],
            [assistant_message("Done.")],
        ]
    )
    return tmp_path


async def test_health_answers_while_a_calculation_runs(client, held_calculation):
    folder = held_calculation
    run = asyncio.ensure_future(
        client.post("/assistant/run", {"input": "compute"}, content_type="application/json")
    )
    await wait_for_file(folder / "pid")
    pid = int((folder / "pid").read_text())

    health = await client.get("/health")

    assert health.status_code == 200
    assert not (folder / "done").exists(), "/health was answered while the computation ran"
    assert pid != os.getpid() and exists(pid)
    (folder / "release").write_text("go")
    response = await asyncio.wait_for(run, 30)
    assert response.status_code == 200
    assert response.json()["final_output"] == "Done."
    assert (folder / "done").read_text() == "released"


async def test_cancelling_the_run_kills_the_computation(client, held_calculation):
    folder = held_calculation
    response = await client.post(
        "/assistant/stream", {"input": "compute"}, content_type="application/json"
    )
    run_id = response["X-Run-Id"]
    await wait_for_file(folder / "pid")
    pid = int((folder / "pid").read_text())

    cancelled = await client.post(f"/assistant/runs/{run_id}/cancel")

    assert cancelled.json()["status"] == "cancelled"
    async with asyncio.timeout(30):
        while exists(pid):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert not (folder / "done").exists(), "the computation was killed, not finished"
