"""How rules group the series they read from a store (``agentguard_metrics.Store``).

Rules read through the store protocol of agentguard-metrics (the model, no web stack): the
memory store, the Redis store, anything that passes its contract. A store keeps every series
by its metric's labels and then by ``agent`` (an extra last label for metrics that are not
labelled by agent already): :func:`label_names` says which, in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias, TypeVar

from agentguard_alerts.errors import RuleConfigError
from agentguard_metrics import Sketch, Store, storekit

__all__ = [
    "Group",
    "Where",
    "group_histograms",
    "group_sums",
    "group_values",
    "label_names",
]

Group: TypeAlias = tuple[str, ...]
"""The values of a rule's ``by`` labels: one alert each."""
Where: TypeAlias = tuple[tuple[str, tuple[str, ...]], ...]
"""A label filter, normalised: ``((label, allowed values), ...)``."""

_V = TypeVar("_V")


def label_names(metric: str) -> tuple[str, ...]:
    """The labels a store keeps ``metric`` by: its own, then ``agent`` if it lacks one.

    Raises:
        RuleConfigError: ``metric`` is not in ``agentguard.metricmap.METRICS``.
    """
    try:
        return storekit.label_names(metric)
    except ValueError:
        raise RuleConfigError(
            f"unknown metric {metric!r}; see docs/metrics.md (agentguard.metricmap.METRICS)",
            key="metric",
        ) from None


def group_values(
    metric: str, where: Where, by: Sequence[str], series: Mapping[Group, _V]
) -> dict[Group, list[_V]]:
    """The values of the series ``where`` selects, by the values of their ``by`` labels."""
    names = label_names(metric)
    wanted = [(names.index(label), frozenset(values)) for label, values in where]
    positions = [names.index(label) for label in by]
    found: dict[Group, list[_V]] = {}
    for values, value in series.items():
        if all(values[i] in allowed for i, allowed in wanted):
            found.setdefault(tuple(values[i] for i in positions), []).append(value)
    return found


def group_sums(
    reader: Store,
    metric: str,
    where: Where,
    by: Sequence[str],
    *,
    start: float,
    end: float,
) -> dict[Group, float]:
    """A counter's increase per group (the store's total when nothing filters or groups)."""
    if not by and not where:
        return {(): reader.counter(metric, None, start, end)}
    selected = group_values(metric, where, by, reader.counters(metric, start, end))
    found = {group: sum(values) for group, values in selected.items()}
    if not by:
        found.setdefault((), 0.0)
    return found


def group_histograms(
    reader: Store,
    metric: str,
    where: Where,
    by: Sequence[str],
    *,
    start: float,
    end: float,
) -> dict[Group, Sketch]:
    """A histogram's observations per group."""
    if not by and not where:
        return {(): reader.histogram(metric, None, start, end)}
    found: dict[Group, Sketch] = {}
    for group, views in group_values(
        metric, where, by, reader.histograms(metric, start, end)
    ).items():
        merged = views[0]
        if len(views) > 1:
            merged = merged.copy()
            for view in views[1:]:
                merged.merge(view)
        found[group] = merged
    return found
