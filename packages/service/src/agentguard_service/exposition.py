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
from collections.abc import Callable, Iterator

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

__all__ = ["StoreCollector", "bucket_counts"]

_go_float: Callable[[float], str] = floatToGoString


def bucket_counts(sketch: Sketch, bounds: tuple[float, ...]) -> list[int]:
    """Cumulative counts of observations at most each bound, then ``+Inf`` (the count).

    Derived from the sketch (see the module docstring for the accuracy at the bounds).
    """
    mapping = mapping_for(sketch.relative_accuracy)
    ascending: list[tuple[float, int]] = [
        (-mapping.value(k), n) for k, n in sorted(sketch.negative.items(), reverse=True)
    ]
    if sketch.zero_count:
        ascending.append((0.0, sketch.zero_count))
    ascending += [(mapping.value(k), n) for k, n in sorted(sketch.positive.items())]
    counts: list[int] = []
    seen = 0
    i = 0
    for bound in bounds:
        if bound < sketch.min:
            counts.append(0)
            continue
        if bound >= sketch.max:
            counts.append(sketch.count)
            continue
        while i < len(ascending) and ascending[i][0] <= bound:
            seen += ascending[i][1]
            i += 1
        counts.append(seen)
    counts.append(sketch.count)
    return counts


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
            keep = _kept_positions(metric)
            if isinstance(family, CounterMetricFamily):
                for labels, value in sorted(_summed(self._store.counters(metric.name), keep)):
                    family.add_metric(labels, value)
            elif isinstance(family, GaugeMetricFamily):
                combine = max if metric.set_by_events else _add
                gauges = _combined(self._store.gauges(metric.name), keep, combine)
                for labels, value in sorted(gauges.items()):
                    family.add_metric(labels, value)
            elif isinstance(family, HistogramMetricFamily):
                for labels, sketch in sorted(_merged(self._store.histograms(metric.name), keep)):
                    counts = bucket_counts(sketch, metric.buckets)
                    bounds = [*(_go_float(b) for b in metric.buckets), "+Inf"]
                    family.add_metric(
                        labels,
                        buckets=list(zip(bounds, map(float, counts), strict=True)),
                        sum_value=sketch.sum,
                    )
            yield family

    def __repr__(self) -> str:
        return f"<StoreCollector {self._store!r}>"


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
    for values, sketch in per_series.items():
        if not sketch.count:
            continue
        labels = tuple(values[p] for p in keep)
        held = out.get(labels)
        if held is None:
            out[labels] = sketch.copy()
        else:
            held.merge(sketch)
    return list(out.items())
