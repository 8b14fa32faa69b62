"""Figures: percentiles, and the printed Markdown table plus the JSON file.

Every benchmark returns rows of (benchmark, figure, value, note); the table prints them in order
and the JSON file keeps the same rows plus each benchmark's raw details, so a later run can be
compared figure by figure.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    benchmark: str
    figure: str
    value: float | int | str
    unit: str = ""
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(
        self, benchmark: str, figure: str, value: float | int | str, unit: str = "", note: str = ""
    ) -> None:
        self.rows.append(Row(benchmark, figure, value, unit, note))

    def table(self) -> str:
        lines = [
            "| benchmark | figure | value | unit | note |",
            "|---|---|---:|---|---|",
        ]
        for row in self.rows:
            lines.append(
                f"| {row.benchmark} | {row.figure} | {_format(row.value)} | {row.unit} "
                f"| {row.note} |"
            )
        return "\n".join(lines)

    def write_json(self, path: Path) -> None:
        payload = {
            "machine": machine_info(),
            "rows": [asdict(row) for row in self.rows],
            "details": self.details,
            "failures": self.failures,
        }
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def _format(value: float | int | str) -> str:
    if isinstance(value, float):
        if value == 0 or abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return value


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 200 samples is the 198th smallest)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def machine_info() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def machine_line() -> str:
    info = machine_info()
    return f"machine: {info['cores']} cores, Python {info['python']}, {info['platform']}"
