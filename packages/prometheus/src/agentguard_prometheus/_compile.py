"""The Prometheus subscriber's backend for :mod:`agentguard.compiler`: cells per thread.

The compiler turns the rules of :mod:`agentguard.metricmap` into one function per event class;
this module says what those functions update (DESIGN.md P3, see
:mod:`agentguard_prometheus._families`): plain arithmetic on the calling thread's cell, no call
and no lock. ``cell[0] += a`` for ``inc``, ``-=`` for ``dec``, and for ``observe`` one to the
bucket ``bisect_left(buckets, a)`` (the first bound ``>= a``, or ``+Inf``) and ``a`` to the sum.
Only gauges that some rule sets go through a call, which takes the store's lock (last writer
wins across threads).

The handler's state ``t`` is the calling thread's: ``t[0]`` its
:class:`~agentguard_prometheus._families.Cells`, ``t[i]`` the cache of group ``i``, so caches
and cells are never shared between threads. Targets are resolved through the caps of
:class:`~agentguard_prometheus._series.SeriesTable`; values a cap folds into ``other`` are not
cached, so a cache never holds more keys than the caps allow series.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from agentguard.compiler import Group, Handler, Source, compile_handler
from agentguard.events import Event
from agentguard.metricmap import RULES, Metric, Rule
from agentguard_prometheus._series import SeriesTable

__all__ = ["SHARED", "CellBackend", "compile_handlers"]

SHARED: frozenset[str] = frozenset(
    rule.metric.name
    for rules in RULES.values()
    for rule in rules
    if rule.op == "set" and rule.metric.type == "gauge"
)
"""The gauges some rule sets: their cells are shared by all threads (last writer wins)."""


class CellBackend:
    """Compiles the rules into updates of per-thread cells, admitted by a series table."""

    def __init__(self, table: SeriesTable, shared: frozenset[str] = SHARED) -> None:
        self.table = table
        self.shared = shared

    def includes(self, metric: Metric) -> bool:
        """Whether the subscriber keeps ``metric``."""
        return self.table.has(metric)

    def prologue(self, source: Source) -> list[str]:
        """Nothing to prepare."""
        return []

    def key_suffix(self, source: Source) -> tuple[str, ...]:
        """Keys are the label values alone."""
        return ()

    def resolve(
        self, t: list[Any], rule: Rule, labels: tuple[str, ...], suffix: tuple[object, ...]
    ) -> tuple[object, bool]:
        """The thread's cell (or the shared update) of ``rule``'s series, under the caps."""
        admitted, folded = self.table.admit(rule.metric, labels)
        store = self.table.store
        if rule.metric.name in self.shared:
            return store.shared(rule.metric, rule.op, admitted), not folded
        return store.cell(t[0], rule.metric, admitted), not folded

    def apply(self, source: Source, rule: Rule, target: str) -> list[str]:
        """Arithmetic on the cell, or a call of a shared update."""
        if rule.metric.name in self.shared:
            return [f"{target}(a)"]
        if rule.op == "observe":
            bisect = source.bind("BISECT", bisect_left)
            bounds = source.bind("B", rule.metric.buckets)
            total = len(rule.metric.buckets) + 1  # the sum's slot, after the +Inf bucket
            return [f"{target}[{bisect}({bounds}, a)] += 1.0", f"{target}[{total}] += a"]
        return [f"{target}[0] {'-=' if rule.op == 'dec' else '+='} a"]

    def invalid(self, rule: Rule, where: str) -> Callable[[object], None]:
        """Count and log a refused amount."""
        table, metric = self.table, rule.metric
        return lambda amount: table.invalid(metric, where, amount)


def compile_handlers(
    table: SeriesTable, shared: frozenset[str] = SHARED
) -> tuple[dict[type[Event], Handler], list[Group]]:
    """A handler per event class, and the groups whose caches a thread state holds."""
    backend = CellBackend(table, shared)
    groups: list[Group] = []
    handlers = {cls: compile_handler(cls, rules, backend, groups) for cls, rules in RULES.items()}
    return handlers, groups
