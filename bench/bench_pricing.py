"""Pricing one call (issue 13): ``PriceTable`` against genai-prices' own ``calc_price``.

Both compute the same dollars (tests/trace/test_pricing_genai.py proves it to the float on
every Claude model); the table derives per-unit rates from genai-prices once per model and
price context and then prices a call with integers, so that pricing fits in P4's budget of
25 us for everything ``instrument(client)`` adds to a call.
"""

from __future__ import annotations

from datetime import datetime, timezone

import genai_prices
from genai_prices import Usage
from genai_prices.data_snapshot import get_snapshot

from agentguard_trace.pricing import CallUsage, PriceTable
from bench._harness import Report, ns_per_call

COMMAND = "nox -s bench -- pricing   (or: python -m bench pricing)"
_MAX_RATIO = 0.05
"""The table's hot path at most 1/20 of genai-prices' calc_price: ~4.5 us of its ~90 us."""


def run() -> Report:
    """Measure and return the report."""
    report = Report("pricing: ns per call, PriceTable against genai_prices.calc_price", COMMAND)
    table = PriceTable()
    usage = CallUsage(input_tokens=1200, output_tokens=300, cache_read_tokens=9000)
    counts = usage.counts()
    theirs = Usage(input_tokens=10_200, output_tokens=300, cache_read_tokens=9000)
    batch = CallUsage(input_tokens=1200, output_tokens=300, service_tier="batch")
    model = "claude-sonnet-4-5"
    _, info = get_snapshot().find_provider_model(model, None, "anthropic", None)
    now = datetime.now(tz=timezone.utc)
    namespace: dict[str, object] = {
        "table": table,
        "usage": usage,
        "counts": counts,
        "theirs": theirs,
        "batch": batch,
        "model": model,
        "info": info,
        "now": now,
        "calc_price": genai_prices.calc_price,
        "CallUsage": CallUsage,
        "PriceTable": PriceTable,
    }
    reference = ns_per_call(
        "calc_price(theirs, model, provider_id='anthropic')", namespace, number=300, repeat=5
    )
    report.measured("genai_prices.calc_price (the reference)", reference)
    report.measured(
        "ModelInfo.get_prices(now).calc_price(usage)",
        ns_per_call("info.get_prices(now).calc_price(theirs)", namespace, number=300, repeat=5),
    )
    table.price_parts(model, counts)  # the first call resolves the rates; measure the rest
    hot = ns_per_call("table.price_parts(model, counts)", namespace, number=50_000)
    report.target(
        "PriceTable.price_parts (the tracer's hot path) / calc_price",
        hot / reference,
        _MAX_RATIO,
        "x",
        f"{hot:.0f} ns",
    )
    report.measured(
        "PriceTable.price_parts, batch tier (dated variant: clock read)",
        ns_per_call(
            "table.price_parts('claude-opus-4-5', counts, service_tier='batch')",
            namespace,
            number=50_000,
        ),
    )
    report.measured(
        "PriceTable.price(model, usage) -> CallCost",
        ns_per_call("table.price(model, usage)", namespace, number=50_000),
    )
    report.measured(
        "CallUsage(...) built and priced",
        ns_per_call(
            "table.price(model, CallUsage(input_tokens=1200, output_tokens=300, "
            "cache_read_tokens=9000))",
            namespace,
            number=20_000,
        ),
    )
    report.measured(
        "a model's first call: rates resolved (7 calc_price per tier)",
        ns_per_call("PriceTable().price_parts(model, counts)", namespace, number=20, repeat=3),
    )
    return report
