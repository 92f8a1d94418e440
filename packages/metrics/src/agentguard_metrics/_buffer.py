"""The mechanics of an aggregator: the deltas held since the last flush, and label caps."""

from __future__ import annotations

from agentguard_metrics.batch import BucketKey, DeltaBatch, GaugeSet, SeriesKey
from agentguard_metrics.sketch import Sketch

OTHER = "other"
"""The label value that label values past a cap fold into."""


class Buffer:
    """Deltas since the last flush; memory grows with the number of series, not of events."""

    __slots__ = ("counters", "gauge_deltas", "gauge_sets", "histograms")

    def __init__(self) -> None:
        self.counters: dict[BucketKey, float] = {}
        self.histograms: dict[BucketKey, Sketch] = {}
        self.gauge_deltas: dict[SeriesKey, float] = {}
        self.gauge_sets: dict[SeriesKey, GaugeSet] = {}

    def series_count(self) -> int:
        """How many entries the buffer holds."""
        return (
            len(self.counters)
            + len(self.histograms)
            + len(self.gauge_deltas)
            + len(self.gauge_sets)
        )

    def batch(self, process_id: str, sequence: int, sent_at_unix_s: float) -> DeltaBatch:
        """The buffer as a batch (which takes its dictionaries over)."""
        return DeltaBatch(
            process_id=process_id,
            sequence=sequence,
            sent_at_unix_s=sent_at_unix_s,
            counters=self.counters,
            histograms=self.histograms,
            gauge_deltas=self.gauge_deltas,
            gauge_sets=self.gauge_sets,
        )


class LabelCaps:
    """Folds label values past ``max_values`` per label per metric into ``other``.

    Not thread-safe: the aggregator calls it under its lock. Memory is bounded: at most
    ``max_values`` remembered values per label, and a cache of admitted label tuples of at
    most ``max_cached`` entries (past it, tuples are checked value by value each time).
    """

    __slots__ = ("_cache", "_max_cached", "_max_values", "_seen")

    def __init__(self, max_values: int, max_cached: int = 50_000) -> None:
        self._max_values = max_values
        self._max_cached = max_cached
        self._seen: dict[str, list[set[str]]] = {}
        self._cache: dict[SeriesKey, tuple[str, ...]] = {}

    def fold(self, name: str, labels: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
        """``labels`` with the values past the cap replaced by ``other``, and whether any was."""
        key = (name, labels)
        hit = self._cache.get(key)
        if hit is not None:
            return hit, False
        seen = self._seen.get(name)
        if seen is None:
            seen = self._seen[name] = [set() for _ in labels]
        folded = False
        out: list[str] = []
        for value, values in zip(labels, seen, strict=True):
            if value in values or value == OTHER:
                out.append(value)
            elif len(values) < self._max_values:
                values.add(value)
                out.append(value)
            else:
                out.append(OTHER)
                folded = True
        result = tuple(out)
        if not folded and len(self._cache) < self._max_cached:
            self._cache[key] = result
        return result, folded
