"""One figure, one value: the demo's recap and summary agree with what its service serves.

One ``agentguard demo`` (the real SDK against the fake API) held open at 80 columns; its
cache saving is read from the recap, the session summary, ``/metrics``, the snapshot and the
query API, and must be the same figure; so must the largest context size.
"""

from __future__ import annotations

import json
import os
import re
import signal
from dataclasses import dataclass
from typing import Any

import pytest

from cli.test_demo import TIMEOUT_S, hold_demo, http_get, recap
from support.waiting import wait_until

MODEL = "claude-sonnet-4-6"


@dataclass
class Served:
    out: str
    metrics: str
    snapshot: dict[str, Any]
    query: dict[str, Any]


@pytest.fixture(scope="module")
def served() -> Served:
    """A demo held open, read once the service holds every step the summary counted."""
    env = {**os.environ, "COLUMNS": "80", "LINES": "40"}
    proc, seen, base = hold_demo("--seed", "2", env=env)
    try:
        out = "".join(seen)
        steps = int(re.findall(r"^Steps: +(\d+)", out, re.MULTILINE)[0])

        def snapshot() -> dict[str, Any]:
            found: dict[str, Any] = json.loads(http_get(base + "/api/v1/snapshot"))
            return found

        # The aggregator flushes every half second: wait until the store has every step.
        wait_until(
            lambda: snapshot()["total_executions"] == steps,
            30,
            lambda: f"the store to hold the summary's {steps} steps",
        )
        query = json.loads(http_get(base + "/api/v1/metrics?timeframe=1h&metrics=cache,context"))
        served = Served(out, http_get(base + "/metrics"), snapshot(), query)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return served


def _sample_sum(metrics: str, name: str) -> float:
    values = re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", metrics, flags=re.MULTILINE)
    return sum(float(v) for v in values)


def test_cache_savings_are_one_figure_in_recap_summary_metrics_snapshot_and_query(
    served: Served,
) -> None:
    # The service's three answers: the same net figure, to the float.
    from_metrics = _sample_sum(
        served.metrics, "agentguard_prompt_cache_saved_usd_total"
    ) - _sample_sum(served.metrics, "agentguard_prompt_cache_lost_usd_total")
    from_snapshot = served.snapshot["cache_saved_usd_total"]
    from_query = served.query["cache"]["totals"]["savedUsd"]
    assert from_snapshot == pytest.approx(from_metrics, abs=1e-9)
    assert from_query == pytest.approx(from_metrics, abs=1e-9)
    # The demo's write-only first calls cost more than plain input: the net keeps them.
    assert _sample_sum(served.metrics, "agentguard_prompt_cache_lost_usd_total") > 0
    # The recap and the summary print it to the hundredth of a cent: the same digits.
    shown = f"${from_metrics:.4f}"
    (recap_line,) = [line for line in recap(served.out) if "prompt cache:" in line]
    assert recap_line.endswith(f"saved {shown}"), recap_line
    assert f"Cache saved:      {shown} (net of writes)" in served.out.splitlines()


def test_context_size_agrees_between_summary_snapshot_and_query(served: Served) -> None:
    lines = served.out.splitlines()
    header = lines.index("Context size (tokens):")
    row = lines[header + 2].split()
    assert row[:2] == ["support", MODEL]
    calls, current, largest, p95 = (int(cell.replace(",", "")) for cell in row[2:])
    assert calls > 0 and current <= largest and p95 <= largest
    for figures in (
        served.snapshot["context_tokens"]["byModel"][MODEL],
        served.snapshot["context_tokens"]["byAgent"]["support"],
        served.query["context"]["byModel"][MODEL],
        served.query["context"]["byAgent"]["support"],
    ):
        assert figures["max"] == largest  # a sketch's max is exact
        assert figures["p95"] == pytest.approx(p95, rel=0.01)  # within the sketch's accuracy
        assert 0 < figures["current"] <= largest


def test_the_demo_table_fits_80_columns_and_cuts_no_number(served: Served) -> None:
    table = [line for line in served.out.splitlines() if line[:1] in "┏┃┡│└"]
    assert table, served.out
    assert all(len(line) <= 80 for line in table), table
    assert not any("…" in line for line in table), table
    assert any(re.search(r"│ +\$\d+\.\d{4} │", line) for line in table), table
