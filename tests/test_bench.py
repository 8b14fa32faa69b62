"""The benchmark harness (bench) still works: its quickest run completes every stream and
produces positive figures.

No timing is asserted — a loaded CI machine would make that flaky, and the figures are for
people to read (``make bench``). The run starts server and upstream processes (and needs the
local PostgreSQL server, as ``make bench`` does), so the test is slow.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.upstream import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.bench]


def run_module(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m <args>`` from the repository, as a user runs it; it must exit 0."""
    completed = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


def test_quick_bench_run_completes_every_stream_with_positive_figures(tmp_path: Path) -> None:
    results = tmp_path / "bench-results.json"
    completed = run_module("bench", "--quick", "--json", str(results), timeout=600)
    payload = json.loads(results.read_text())
    assert payload["failures"] == []
    rows = {(row["benchmark"], row["figure"]): row["value"] for row in payload["rows"]}

    # Every stream ended with stream_complete (the client counts a stream as completed only then),
    # through the FastAPI reference and through agentsite on both databases, every round.
    sizes = payload["details"]["sizes"]
    throughput = payload["details"]["throughput vs reference"]
    assert set(throughput) == {"reference", "sqlite", "postgresql"}
    for server, figures in throughput.items():
        expected = sizes["clients"] * sizes["streams_per_client"] * sizes["rounds"]
        assert (figures["completed"], figures["streams"], figures["errors"]) == (
            expected,
            expected,
            [],
        ), server
    for database in ("sqlite", "postgresql"):
        assert rows[("throughput vs reference", f"ratio streams/s {database} ÷ reference")] > 0
    for concurrency in sizes["latency_concurrency"]:
        latency = payload["details"][f"latency at {concurrency} clients"]
        assert set(latency) == {"reference", "sqlite", "postgresql"}
    # How cost grows: every size, with and without the history limit, every stream completed.
    for database in sizes["growth_databases"]:
        growth = payload["details"][f"how cost grows {database}"]
        assert set(growth) == {"full history", f"history limit {sizes['history_limit']}"}
        for figures in growth.values():
            assert set(figures) == {str(items) for items in sizes["growth_items"]}
    assert set(payload["details"]["two processes postgresql + redis"]) == {
        "one process",
        "two processes",
    }
    slow = sizes["slow_streams"]
    assert rows[("slow streams sqlite", "completed")] == f"{slow}/{slow}"
    assert rows[("slow streams sqlite", "errors")] == 0

    numbers = [value for value in rows.values() if isinstance(value, int | float)]
    assert len(numbers) > 20
    counts_that_may_be_zero = ("errors", "kernel listen-queue overflows")
    figures = {key: value for key, value in rows.items() if key[1] not in counts_that_may_be_zero}
    for key, value in figures.items():
        if isinstance(value, int | float):
            assert math.isfinite(value) and value > 0, (key, value)
    assert "| benchmark | figure | value |" in completed.stdout


def test_versions_side_by_side_serve_every_stream() -> None:
    """``python -m bench.versions``: two agentsite trees (here this one twice, one with a
    setting changed) beside the reference, each on a database its own migrations made."""
    completed = run_module(
        "bench.versions",
        "this=.",
        "one-thread=.:DATABASE_THREADS=1",
        "--rounds",
        "2",
        "--streams",
        "10",
        "--clients",
        "5",
        timeout=300,
    )
    lines = {line.split()[0]: line for line in completed.stdout.splitlines()[1:]}
    assert set(lines) == {"reference", "this", "one-thread"}
    for line in lines.values():
        assert line.endswith("failed 0"), line
        assert "first event" in line and "first delta" in line, line
        assert float(line.split()[1]) > 0
