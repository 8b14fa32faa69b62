"""The benchmark harness (bench) still works: its quickest run completes every stream and
produces positive figures.

No timing is asserted — a loaded CI machine would make that flaky, and the figures are for
people to read (``make bench``). The run starts daphne and upstream processes (and needs the
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


def test_quick_bench_run_completes_every_stream_with_positive_figures(tmp_path: Path) -> None:
    results = tmp_path / "bench-results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(results)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    payload = json.loads(results.read_text())
    assert payload["failures"] == []
    rows = {(row["benchmark"], row["figure"]): row["value"] for row in payload["rows"]}

    # Every stream ended with stream_complete (the client counts a stream as completed only then),
    # through agentsite on both databases and through the bare ASGI floor app.
    for database in ("floor", "sqlite", "postgresql"):
        details = payload["details"][f"throughput {database}"]
        sizes = payload["details"]["sizes"]
        assert details["completed"] == sizes["streams"]
        assert details["errors"] == []
        assert details["baseline"]["completed"] == sizes["streams"]
        assert rows[(f"throughput {database}", "completed")].startswith(
            f"{sizes['streams']}/{sizes['streams']}"
        )
    slow = payload["details"]["sizes"]["slow_streams"]
    for variant in ("slow streams sqlite", "slow streams sqlite backlog=4096"):
        assert rows[(variant, "completed")] == f"{slow}/{slow}"
        assert rows[(variant, "errors")] == 0

    numbers = [value for value in rows.values() if isinstance(value, int | float)]
    assert len(numbers) > 20
    counts_that_may_be_zero = ("errors", "kernel listen-queue overflows")
    figures = {key: value for key, value in rows.items() if key[1] not in counts_that_may_be_zero}
    for key, value in figures.items():
        if isinstance(value, int | float):
            assert math.isfinite(value) and value > 0, (key, value)
    assert "| benchmark | figure | value |" in completed.stdout
