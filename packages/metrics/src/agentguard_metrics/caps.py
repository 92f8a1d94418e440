"""Cardinality caps in the store: label values past a cap, across every process, read ``other``.

Per metric and label, the first ``max_label_values`` values a store sees
(:data:`DEFAULT_MAX_LABEL_VALUES`) are kept and every later one is written as ``other``, each
fold counted in ``agentguard_series_dropped_total{metric}``. A value unwritten for
:data:`FORGET_LABEL_VALUES_S` frees its place; :data:`agentguard.metricmap.SELF_METRICS` are
never folded. A store checks a batch's values (:func:`batch_label_values`) against its
register and folds the refused ones with :func:`fold_batch`.

The trap (exactly once): an admitted value stays admitted and a full register stays full, so a
batch sent again folds as it did the first time (docs/architecture.md, "A cap across processes").
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from agentguard.metricmap import SELF_METRICS, SERIES_DROPPED
from agentguard_metrics.batch import BucketKey, DeltaBatch, GaugeSet, SeriesKey, bucket_start
from agentguard_metrics.sketch import Sketch
from agentguard_metrics.store import ROLLUPS

__all__ = [
    "DEFAULT_MAX_LABEL_VALUES",
    "FORGET_LABEL_VALUES_S",
    "OTHER",
    "LabelValue",
    "batch_label_values",
    "check_max_label_values",
    "fold_batch",
]

OTHER: Final = "other"
"""The label value that label values past a cap fold into."""

DEFAULT_MAX_LABEL_VALUES: Final = 100
"""Values kept per label per metric, in a process (aggregator) and across processes (store)."""

FORGET_LABEL_VALUES_S: Final = max(r.retention_s for r in ROLLUPS if r.retention_s is not None)
"""A label value not written for this long frees its place in a store's register (30 days)."""

LabelValue = tuple[str, int, str]
"""A metric's name, a position in its label values (``series_labels``), and a value there."""

_EXEMPT: Final = frozenset(m.name for m in SELF_METRICS)


def check_max_label_values(max_label_values: int) -> int:
    """``max_label_values`` if it is an int of at least 1; ``ValueError`` (or ``TypeError``)."""
    if isinstance(max_label_values, bool) or not isinstance(max_label_values, int):
        raise TypeError(f"max_label_values must be an int, got {max_label_values!r}")
    if max_label_values < 1:
        raise ValueError(f"max_label_values must be >= 1, got {max_label_values!r}")
    return max_label_values


def batch_label_values(batch: DeltaBatch) -> dict[tuple[str, int], list[str]]:
    """Every capped label value of ``batch``, per metric and label position, in batch order.

    ``other`` and the self-metrics are left out: they are never folded.
    """
    found: dict[tuple[str, int], dict[str, None]] = {}
    keys: list[tuple[str, tuple[str, ...]]] = [(name, values) for name, values, _ in batch.counters]
    keys += [(name, values) for name, values, _ in batch.histograms]
    keys += [*batch.gauge_deltas, *batch.gauge_sets]
    for name, values in keys:
        if name in _EXEMPT:
            continue
        for position, value in enumerate(values):
            if value != OTHER:
                found.setdefault((name, position), {})[value] = None
    return {key: list(values) for key, values in found.items()}


def fold_batch(batch: DeltaBatch, refused: Collection[LabelValue]) -> DeltaBatch:
    """``batch`` with the ``refused`` label values written as ``other``, the folds counted.

    Deltas that meet on one series after folding add up (sketches merge into a copy: the
    batch's own are never changed, so folding it again gives the same batch). Each folded
    delta adds one to ``agentguard_series_dropped_total{metric}`` in its bucket (a gauge's:
    the bucket the batch was sent in). ``batch`` itself when nothing is refused.
    """
    if not refused:
        return batch
    dropped: dict[BucketKey, float] = {}
    sent_bucket = bucket_start(batch.sent_at_unix_s)

    def fold(name: str, values: tuple[str, ...], bucket: int) -> tuple[str, ...]:
        if not any((name, i, v) in refused for i, v in enumerate(values)):
            return values
        key = (SERIES_DROPPED.name, (name, ""), bucket)
        dropped[key] = dropped.get(key, 0.0) + 1.0
        return tuple(OTHER if (name, i, v) in refused else v for i, v in enumerate(values))

    counters: dict[BucketKey, float] = {}
    for (name, values, at), amount in batch.counters.items():
        key = (name, fold(name, values, at), at)
        counters[key] = counters.get(key, 0.0) + amount
    histograms: dict[BucketKey, Sketch] = {}
    copies: set[BucketKey] = set()
    for (name, values, at), sketch in batch.histograms.items():
        key = (name, fold(name, values, at), at)
        held = histograms.get(key)
        if held is None:
            histograms[key] = sketch
            continue
        if key not in copies:
            copies.add(key)
            held = histograms[key] = held.copy()
        held.merge(sketch)
    gauge_deltas: dict[SeriesKey, float] = {}
    for (name, values), delta in batch.gauge_deltas.items():
        series = (name, fold(name, values, sent_bucket))
        gauge_deltas[series] = gauge_deltas.get(series, 0.0) + delta
    gauge_sets: dict[SeriesKey, GaugeSet] = {}
    for (name, values), setting in batch.gauge_sets.items():
        series = (name, fold(name, values, sent_bucket))
        was = gauge_sets.get(series)
        if was is None or setting.at_unix_s >= was.at_unix_s:
            gauge_sets[series] = setting
    for key, n in dropped.items():
        counters[key] = counters.get(key, 0.0) + n
    return DeltaBatch(
        process_id=batch.process_id,
        sequence=batch.sequence,
        sent_at_unix_s=batch.sent_at_unix_s,
        counters=counters,
        histograms=histograms,
        gauge_deltas=gauge_deltas,
        gauge_sets=gauge_sets,
    )
