"""The series of one subscriber: admitted under cardinality caps, values checked.

A series is one combination of label values of one metric. Per metric and label at most
``max_label_values`` values (later ones read ``other``); at most ``max_series`` series in all
(a new one past it reads every label as ``other``, created even past the cap, so the registry
holds at most ``max_series`` plus one series per metric). Each fold counts one in
``agentguard_series_dropped_total{metric}``; the metrics about agentguard itself are not capped.

The trap: caps are decided here, under this table's lock, on the slow path only (a thread's
first meeting with a label key); the numbers live in
:class:`~agentguard_prometheus._families.Store`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection

from agentguard.episodes import FailureEpisodes
from agentguard.metricmap import INVALID_VALUES, METRICS, SELF_METRICS, SERIES_DROPPED, Metric
from agentguard_prometheus._families import BUS_METRICS, Store

__all__ = ["OTHER", "SeriesTable", "Update"]

OTHER = "other"
"""The label value past a cap."""

Update = Callable[[float], None]
"""An update of a shared cell (``set``, ``inc`` or ``dec`` under the store's lock)."""

_logger = logging.getLogger("agentguard.prometheus")
_UNCAPPED = frozenset(metric.name for metric in SELF_METRICS)


class SeriesTable:
    """The caps of one subscriber, and the store its numbers go to."""

    def __init__(
        self,
        store: Store,
        names: Collection[str],
        *,
        max_label_values: int,
        max_series: int,
        episodes: FailureEpisodes | None = None,
    ) -> None:
        self.store = store
        self._names = frozenset(n for n in names if n not in BUS_METRICS)
        self._max_label_values = max_label_values
        self._max_series = max_series
        self._lock = threading.Lock()
        self._seen: dict[str, list[set[str]]] = {
            metric.name: [set() for _ in metric.labels] for metric in METRICS
        }
        self._made: dict[str, set[tuple[str, ...]]] = {metric.name: set() for metric in METRICS}
        self._series = 0
        self._episodes = episodes or FailureEpisodes(_logger)

    @property
    def series(self) -> int:
        """Capped series made so far."""
        return self._series

    def has(self, metric: Metric) -> bool:
        """Whether ``metric`` exists here (it may be left out by an allow-list)."""
        return metric.name in self._names

    def admit(self, metric: Metric, labels: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
        """The label values to use for ``labels`` under the caps, and whether a cap folded."""
        key, folded = labels, False
        if metric.name not in _UNCAPPED:
            key, folded = self._admit(metric, labels)
        if folded:
            self._count(SERIES_DROPPED, metric.name)
        return key, folded

    def invalid(self, metric: Metric, source: str, value: object) -> None:
        """Refuse ``value`` for ``metric``: count it and log once per episode."""
        self._count(INVALID_VALUES, metric.name)
        self._episodes.failed(
            f"agentguard_prometheus: invalid values for {metric.name}",
            f"refused {value!r} from {source} (out of range, agentguard.limits); counted in "
            f"{INVALID_VALUES.name}",
        )

    def _admit(self, metric: Metric, labels: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
        folded = False
        with self._lock:
            values = list(labels)
            for i, seen in enumerate(self._seen[metric.name]):
                if values[i] in seen:
                    continue
                if len(seen) < self._max_label_values:
                    seen.add(values[i])
                else:
                    values[i], folded = OTHER, True
            key = tuple(values)
            made = self._made[metric.name]
            if key not in made:
                if self._series < self._max_series:
                    self._series += 1
                else:
                    key, folded = (OTHER,) * len(key), True
                made.add(key)
        return key, folded

    def _count(self, metric: Metric, label: str) -> None:
        if metric.name in self._names:
            self.store.count(metric, (label,))
