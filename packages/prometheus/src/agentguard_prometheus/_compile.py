"""The Prometheus subscriber's backend for :mod:`agentguard.compiler`: cells per thread.

An update is plain arithmetic on the calling thread's cell (no call, no lock): ``cell[0] +=
amount`` for ``inc``, ``-=`` for ``dec``; ``observe`` adds one to the bucket
``bisect_left(buckets, amount)`` and the amount to the sum. A gauge set by events
(:attr:`~agentguard.metricmap.Metric.set_by_events`) is a call that takes the store's lock.
The handler's state is the calling thread's: ``state[0]`` its
:class:`~agentguard_prometheus._families.Cells`, ``state[i]`` the cache of group ``i``.
Targets are admitted by the caps of :class:`~agentguard_prometheus._series.SeriesTable`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from agentguard.compiler import Group, Handler, Source, compile_handler
from agentguard.events import Event
from agentguard.metricmap import RULES, Metric, Rule
from agentguard_prometheus._series import SeriesTable

__all__ = ["CellBackend", "compile_handlers"]


class CellBackend:
    """Compiles the rules into updates of per-thread cells, admitted by a series table.

    A gauge set by events has one cell shared by every thread (the latest value wins).
    """

    def __init__(self, table: SeriesTable) -> None:
        self.table = table

    def includes(self, metric: Metric) -> bool:
        """Whether the subscriber keeps ``metric``."""
        return self.table.has(metric)

    def prologue(self, source: Source) -> list[str]:
        """Nothing to prepare."""
        return []

    def key_suffix(self, source: Source) -> tuple[str, ...]:
        """Keys are the label values alone."""
        return ()

    def suffix(self, event: Event) -> tuple[object, ...]:
        """Keys are the label values alone."""
        return ()

    def resolve(
        self, state: list[Any], rule: Rule, labels: tuple[str, ...], suffix: tuple[object, ...]
    ) -> tuple[object, bool]:
        """The thread's cell (or the shared update) of ``rule``'s series, under the caps."""
        admitted, folded = self.table.admit(rule.metric, labels)
        store = self.table.store
        if rule.metric.set_by_events:
            return store.shared(rule.metric, rule.op, admitted), not folded
        return store.cell(state[0], rule.metric, admitted), not folded

    def apply(self, source: Source, rule: Rule, target: str) -> list[str]:
        """Arithmetic on the cell, or a call of a shared update."""
        if rule.metric.set_by_events:
            return [f"{target}(amount)"]
        if rule.op == "observe":
            bisect = source.bind("bisect_left", bisect_left)
            bounds = source.bind("bounds", rule.metric.buckets)
            total = len(rule.metric.buckets) + 1  # the sum's slot, after the +Inf bucket
            return [
                f"{target}[{bisect}({bounds}, amount)] += 1.0",
                f"{target}[{total}] += amount",
            ]
        return [f"{target}[0] {'-=' if rule.op == 'dec' else '+='} amount"]

    def update(self, target: Any, rule: Rule, amount: float, event: Event) -> None:
        """What the lines of :meth:`apply` do, for the interpreter."""
        metric = rule.metric
        if metric.set_by_events:
            target(amount)
        elif rule.op == "observe":
            target[bisect_left(metric.buckets, amount)] += 1.0
            target[len(metric.buckets) + 1] += amount
        elif rule.op == "dec":
            target[0] -= amount
        else:
            target[0] += amount

    def invalid(self, rule: Rule, where: str) -> Callable[[object], None]:
        """Count and log a refused amount."""
        table, metric = self.table, rule.metric
        return lambda amount: table.invalid(metric, where, amount)


def compile_handlers(table: SeriesTable) -> tuple[dict[type[Event], Handler], list[Group]]:
    """A handler per event class, and the groups whose caches a thread state holds."""
    backend = CellBackend(table)
    groups: list[Group] = []
    handlers = {cls: compile_handler(cls, rules, backend, groups) for cls, rules in RULES.items()}
    return handlers, groups
