"""Timing and reporting for the benchmarks: best-of-N timeit runs, ratios, targets."""

from __future__ import annotations

import platform
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field

from agentguard.events import LLMCallFinished


def ns_per_call(
    stmt: str | Callable[[], object],
    namespace: dict[str, object] | None = None,
    *,
    number: int = 200_000,
    repeat: int = 7,
) -> float:
    """Best-of-``repeat`` nanoseconds per run of ``stmt`` (timeit's loop overhead included).

    A statement string with its ``namespace`` is measured without the extra call a callable
    adds; use it for the figures of a few tens of nanoseconds.
    """
    timer = timeit.Timer(stmt, globals=namespace)
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e9


def sample_llm_call(model: str = "claude-sonnet-4-6") -> LLMCallFinished:
    """The LLM call the benchmarks publish: a priced, partly cached, successful call."""
    return LLMCallFinished(
        model=model,
        input_tokens=1200,
        output_tokens=300,
        cache_read_tokens=9000,
        cost_usd=0.0123,
        input_cost_usd=0.0036,
        output_cost_usd=0.0045,
        cache_read_cost_usd=0.0027,
        cache_write_5m_cost_usd=0.0,
        cache_write_1h_cost_usd=0.0,
        duration_s=1.2,
        stop_reason="end_turn",
        request_id="req_1",
    )


@dataclass
class Report:
    """What one benchmark module measured: lines to print and targets met or missed."""

    title: str
    command: str
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def measured(self, what: str, ns: float) -> None:
        """Record a figure that has no target."""
        self.lines.append(f"  {what:<58} {ns:10.1f} ns")

    def target(self, what: str, value: float, limit: float, unit: str, detail: str = "") -> None:
        """Record a figure against the most it may be."""
        ok = value <= limit
        verdict = "ok" if ok else "MISSED"
        line = f"  {what:<58} {value:10.3g} {unit:<3} (target <= {limit:g} {unit}) {verdict}"
        self.lines.append(line + (f"  [{detail}]" if detail else ""))
        if not ok:
            self.failures.append(f"{self.title}: {what}: {value:.3g} {unit} > {limit:g} {unit}")

    def print(self) -> None:
        """Print the report with the command that reproduces it."""
        print(f"\n{self.title}")
        print(f"  reproduce: {self.command}")
        print(f"  python {sys.version.split()[0]} on {platform.machine()}, {platform.system()}")
        for line in self.lines:
            print(line)
