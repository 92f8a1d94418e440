"""``MetricsReader``: the reads rules make of a metric store, and how series are grouped.

``agentguard_metrics.Store`` (the memory store, the Redis store) satisfies this protocol
structurally, so agentguard-alerts does not depend on agentguard-metrics. A store keeps every
series by its metric's labels and then by ``agent`` (an extra last label for metrics that are
not labelled by agent already): :func:`label_names` says which, in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, TypeAlias, TypeVar

from agentguard.metricmap import METRICS, Metric
from agentguard_alerts.errors import RuleConfigError

__all__ = [
    "Group",
    "HistogramView",
    "MetricsReader",
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
_METRICS: dict[str, Metric] = {m.name: m for m in METRICS}

_H = TypeVar("_H", bound="HistogramView")


class HistogramView(Protocol):
    """What a rule reads of a histogram (``agentguard_metrics.Sketch`` has it)."""

    @property
    def count(self) -> int:
        """How many values were observed."""
        ...

    @property
    def max(self) -> float:
        """The largest observed value (``-inf`` while empty)."""
        ...

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile, ``None`` while empty."""
        ...

    def copy(self: _H) -> _H:
        """An independent histogram with the same observations."""
        ...

    def merge(self: _H, other: _H) -> None:
        """Add ``other``'s observations to this one."""
        ...


class MetricsReader(Protocol):
    """The reads rules need from a metric store; ``agentguard_metrics.Store`` has them all.

    Time ranges are ``start <= t < end`` in Unix seconds. A rule without ``by`` and
    ``where`` reads the single totals (:meth:`counter`, :meth:`quantile`, :meth:`histogram`,
    :meth:`gauge`); any other reads every series of its metric at once (:meth:`counters`,
    :meth:`histograms`, :meth:`gauges`) and groups them here, one read per metric whatever
    the number of groups.
    """

    def counter(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> float:
        """A counter's increase over the matching series and time range."""
        ...

    def quantile(
        self,
        name: str,
        q: float,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> float | None:
        """A histogram's ``q`` quantile, ``None`` when nothing was observed."""
        ...

    def histogram(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> HistogramView:
        """A histogram's merged observations over the matching series and time range."""
        ...

    def gauge(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """A gauge now."""
        ...

    def counters(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> Mapping[tuple[str, ...], float]:
        """A counter's increase per series (label values in :func:`label_names` order)."""
        ...

    def histograms(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> Mapping[tuple[str, ...], HistogramView]:
        """A histogram's observations per series."""
        ...

    def gauges(self, name: str) -> Mapping[tuple[str, ...], float]:
        """A gauge now, per series."""
        ...


def label_names(metric: str) -> tuple[str, ...]:
    """The labels a store keeps ``metric`` by: its own, then ``agent`` if it lacks one.

    Raises:
        RuleConfigError: ``metric`` is not in ``agentguard.metricmap.METRICS``.
    """
    found = _METRICS.get(metric)
    if found is None:
        raise RuleConfigError(
            f"unknown metric {metric!r}; see docs/metrics.md (agentguard.metricmap.METRICS)",
            key="metric",
        )
    return found.series_labels


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
    reader: MetricsReader,
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
    reader: MetricsReader,
    metric: str,
    where: Where,
    by: Sequence[str],
    *,
    start: float,
    end: float,
) -> dict[Group, HistogramView]:
    """A histogram's observations per group."""
    if not by and not where:
        return {(): reader.histogram(metric, None, start, end)}
    found: dict[Group, HistogramView] = {}
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
