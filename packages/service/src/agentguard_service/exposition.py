"""``StoreCollector``: every metric of a store as prometheus-client metric families.

Register it in a ``CollectorRegistry`` and let prometheus-client write the exposition (text or
OpenMetrics): every metric of :data:`agentguard.metricmap.METRICS` with its own labels and
all-time values, the extra ``agent`` a store keeps
(:attr:`~agentguard.metricmap.Metric.series_labels`) added up again. Counters are summed;
``inc``/``dec`` gauges add up live processes; a gauge set by events keeps one series per label
set, the latest value winning. Histograms use the metric's
buckets, each count derived from the sketch: **a value within the sketch's relative accuracy
(0.5 %) of a bound may land in the neighbouring bucket** (the observed min and max are exact).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from functools import lru_cache
from itertools import accumulate
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.core import Metric as Family
from prometheus_client.utils import floatToGoString

from agentguard.metricmap import AGENT, METRICS, Metric
from agentguard_metrics.sketch import Sketch, mapping_for
from agentguard_metrics.store import Store

if TYPE_CHECKING:
    from ddsketch.mapping import LogarithmicMapping

__all__ = ["StoreCollector", "bucket_counts"]

_go_float: Callable[[float], str] = floatToGoString


def bucket_counts(sketch: Sketch, bounds: tuple[float, ...]) -> list[int]:
    """Cumulative counts of observations at most each bound, then ``+Inf`` (the count).

    ``bounds`` ascending. Derived from the sketch (see the module docstring for the accuracy
    at the bounds): a bucket key counts at a bound when the value it stands for is at most
    the bound, an integer comparison against a threshold key computed once per bounds.
    """
    positive, negative, zero_at = _thresholds(sketch.relative_accuracy, tuple(bounds))
    counts = _at_most(sketch.positive, positive)
    if sketch.negative:
        total = sum(sketch.negative.values())
        below = _at_most(sketch.negative, [-t for t in negative], right=False)
        counts = [n + total - b for n, b in zip(counts, below, strict=True)]
    if sketch.zero_count:
        counts[zero_at:] = [n + sketch.zero_count for n in counts[zero_at:]]
    counts.append(sketch.count)
    above_max = bisect_left(bounds, sketch.max)
    counts[above_max:] = [sketch.count] * (len(counts) - above_max)
    below_min = bisect_left(bounds, sketch.min)
    counts[:below_min] = [0] * below_min
    return counts


def _at_most(counts: dict[int, int], thresholds: list[float], *, right: bool = True) -> list[int]:
    """Per threshold, the counts of the keys at most it (below it when not ``right``).

    Sorting, the prefix sums and the lookups run in C: a Python loop per key is what made
    ``/metrics`` slow with hundreds of histograms.
    """
    keys = sorted(counts)
    running = [0, *accumulate(map(counts.__getitem__, keys))]
    find = bisect_right if right else bisect_left
    return [running[find(keys, t)] for t in thresholds]


@lru_cache(maxsize=64)
def _thresholds(
    relative_accuracy: float, bounds: tuple[float, ...]
) -> tuple[list[float], list[float], int]:
    """Per bound, the keys that count at it; and the first bound zero counts at.

    A positive key ``k`` counts at bound ``b`` when ``value(k) <= b``: when ``k`` is at most
    the first list's entry. A negative key (of ``-value(k)``) counts when ``-k`` is at most the
    second's. The keys are found with the mapping's own ``value``: comparing keys decides
    exactly as comparing the values they stand for.
    """
    mapping = mapping_for(relative_accuracy)
    positive: list[float] = []
    negative: list[float] = []
    for bound in bounds:
        positive.append(_last_key_at_most(mapping, bound) if bound > 0 else -math.inf)
        negative.append(-_first_key_at_least(mapping, -bound) if bound < 0 else math.inf)
    return positive, negative, bisect_left(bounds, 0.0)


def _value(mapping: LogarithmicMapping, key: int) -> float:
    try:
        return float(mapping.value(key))
    except OverflowError:
        return math.inf


def _last_key_at_most(mapping: LogarithmicMapping, bound: float) -> float:
    """The highest key whose value is at most ``bound`` (> 0), ``inf`` past every key."""
    if bound == math.inf:
        return math.inf
    key = mapping.key(bound)
    while _value(mapping, key) > bound:
        key -= 1
    while _value(mapping, key + 1) <= bound:
        key += 1
    return float(key)


def _first_key_at_least(mapping: LogarithmicMapping, bound: float) -> float:
    """The lowest key whose value is at least ``bound`` (> 0), ``inf`` past every key."""
    if bound == math.inf:
        return math.inf
    key = mapping.key(bound)
    while _value(mapping, key - 1) >= bound:
        key -= 1
    while _value(mapping, key) < bound:
        key += 1
    return float(key)


class StoreCollector:
    """A prometheus-client collector that reads every metric from a store when scraped.

    Args:
        store: The store to read (any :class:`~agentguard_metrics.store.Store`).

    A store failure propagates out of ``collect`` (the registry's exposition fails), so the
    caller can answer 503 instead of a partial page.
    """

    def __init__(self, store: Store) -> None:
        if not isinstance(store, Store):
            raise TypeError(f"store must follow agentguard_metrics.Store, got {store!r}")
        self._store = store

    def describe(self) -> Iterator[Family]:
        """The families without samples (so registering reads nothing from the store)."""
        for metric in METRICS:
            yield metric.prometheus_family()

    def collect(self) -> Iterator[Family]:
        """Every metric's families, read from the store now."""
        for metric in METRICS:
            family = metric.prometheus_family()
            if isinstance(family, HistogramMetricFamily):
                bounds = [*(_go_float(b) for b in metric.buckets), "+Inf"]
                for labels, sketch in read_sketches(self._store, metric):
                    counts = bucket_counts(sketch, metric.buckets)
                    family.add_metric(
                        labels,
                        buckets=list(zip(bounds, map(float, counts), strict=True)),
                        sum_value=sketch.sum,
                    )
            else:
                assert isinstance(family, CounterMetricFamily | GaugeMetricFamily)
                for labels, value in read_values(self._store, metric):
                    family.add_metric(labels, value)
            yield family

    def __repr__(self) -> str:
        return f"<StoreCollector {self._store!r}>"


def read_values(store: Store, metric: Metric) -> list[tuple[tuple[str, ...], float]]:
    """A counter's or a gauge's exposed series, sorted: agents added up, infinite counters out.

    What :class:`StoreCollector` and the service's own writer of ``/metrics`` both expose.
    """
    keep = _kept_positions(metric)
    if metric.type == "counter":
        return sorted(_summed(store.counters(metric.name), keep))
    combine = max if metric.set_by_events else _add
    return sorted(_combined(store.gauges(metric.name), keep, combine).items())


def read_sketches(store: Store, metric: Metric) -> list[tuple[tuple[str, ...], Sketch]]:
    """A histogram's exposed series, sorted, agents merged; empty ones left out.

    A sketch may be the store's own: read it, never change it.
    """
    return sorted(_merged(store.histograms(metric.name), _kept_positions(metric)))


def _kept_positions(metric: Metric) -> list[int]:
    """The positions of the metric's own labels in the label values the store keeps."""
    kept = metric.series_labels
    return [kept.index(label) for label in metric.labels if label != AGENT or AGENT in kept]


def _add(a: float, b: float) -> float:
    return a + b


def _combined(
    per_series: dict[tuple[str, ...], float],
    keep: list[int],
    combine: Callable[[float, float], float] = _add,
) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for values, value in per_series.items():
        labels = tuple(values[p] for p in keep)
        held = out.get(labels)
        out[labels] = value if held is None else combine(held, value)
    return out


def _summed(
    per_series: dict[tuple[str, ...], float], keep: list[int]
) -> list[tuple[tuple[str, ...], float]]:
    return [(k, v) for k, v in _combined(per_series, keep).items() if math.isfinite(v)]


def _merged(
    per_series: dict[tuple[str, ...], Sketch], keep: list[int]
) -> list[tuple[tuple[str, ...], Sketch]]:
    out: dict[tuple[str, ...], Sketch] = {}
    copied: set[tuple[str, ...]] = set()
    for values, sketch in per_series.items():
        if not sketch.count:
            continue
        labels = tuple(values[p] for p in keep)
        held = out.get(labels)
        if held is None:
            out[labels] = sketch
            continue
        if labels not in copied:
            held = out[labels] = held.copy()
            copied.add(labels)
        held.merge(sketch)
    return list(out.items())
