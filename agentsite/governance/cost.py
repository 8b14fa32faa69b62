"""What runs cost, estimated from their tokens and the model price table (MODEL_PRICES).

A run's cost is ``(input - cached) × input price + cached × cached-input price + output ×
output price`` per million tokens, at the prices of its model now (the ledger keeps tokens, so a
corrected price corrects past estimates too). A model with no price has no estimate (None).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet, Sum

from agentsite.models import Run

PRICE_KEYS = ("input", "cached_input", "output")
TOKEN_SUMS = ("input_tokens", "cached_tokens", "output_tokens", "total_tokens")


def price_of(model: str) -> dict[str, float] | None:
    """The model's prices, or those of the longest priced name it starts with (a dated
    snapshot such as ``gpt-4o-2024-08-06`` costs what ``gpt-4o`` does)."""
    prices: dict[str, dict[str, float]] = settings.MODEL_PRICES
    if model in prices:
        return prices[model]
    prefixes = [name for name in prices if model.startswith(f"{name}-")]
    return prices[max(prefixes, key=len)] if prefixes else None


def estimate_cost(
    model: str, input_tokens: int, cached_tokens: int, output_tokens: int
) -> float | None:
    """USD, or None when the model has no price."""
    price = price_of(model)
    if price is None:
        return None
    cached = min(cached_tokens, input_tokens)
    total = (
        (input_tokens - cached) * price["input"]
        + cached * price["cached_input"]
        + output_tokens * price["output"]
    )
    return round(total / 1_000_000, 6)


def run_cost(run: Run) -> float | None:
    return estimate_cost(run.model, run.input_tokens, run.cached_tokens, run.output_tokens)


def check_prices(prices: Any) -> list[str]:
    """What is wrong with a MODEL_PRICES table (empty: nothing)."""
    if not isinstance(prices, dict):
        return ["MODEL_PRICES must be a JSON object: model name → prices"]
    problems = []
    for model, price in prices.items():
        if not isinstance(price, dict) or set(price) != set(PRICE_KEYS):
            problems.append(f"MODEL_PRICES[{model!r}] must have exactly {', '.join(PRICE_KEYS)}")
        elif not all(
            isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
            for value in price.values()
        ):
            problems.append(f"MODEL_PRICES[{model!r}]: prices are numbers ≥ 0 (USD per 1M)")
    return problems


def usage_breakdown(runs: QuerySet[Run], by: Sequence[str]) -> list[dict[str, Any]]:
    """Runs, tokens and estimated cost of ``runs`` for each value of the ``by`` fields (e.g.
    ``["owner_key"]``, ``["agent", "model"]``), the costliest first. Grouped by model too
    underneath, since the price is the model's; ``estimated_cost`` leaves out models with no
    price (``unpriced_runs`` counts them)."""
    fields = list(dict.fromkeys([*by, "model"]))
    rows = runs.values(*fields).annotate(
        runs=Count("id"), **{name: Sum(name) for name in TOKEN_SUMS}
    )
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[name] for name in by)
        into = merged.setdefault(
            key,
            {
                **{name: row[name] for name in by},
                "runs": 0,
                **dict.fromkeys(TOKEN_SUMS, 0),
                "estimated_cost": 0.0,
                "unpriced_runs": 0,
            },
        )
        into["runs"] += row["runs"]
        for name in TOKEN_SUMS:
            into[name] += row[name] or 0
        cost = estimate_cost(
            row["model"],
            row["input_tokens"] or 0,
            row["cached_tokens"] or 0,
            row["output_tokens"] or 0,
        )
        if cost is None:
            into["unpriced_runs"] += row["runs"]
        else:
            into["estimated_cost"] = round(into["estimated_cost"] + cost, 6)
    return sorted(merged.values(), key=lambda row: (-row["estimated_cost"], -row["total_tokens"]))


def total_cost(rows: Iterable[dict[str, Any]]) -> float:
    return round(sum(float(row["estimated_cost"]) for row in rows), 6)
