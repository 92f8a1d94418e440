"""Timing and reporting for the benchmarks: best-of-N timeit runs, ratios, targets."""

from __future__ import annotations

import platform
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field


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
