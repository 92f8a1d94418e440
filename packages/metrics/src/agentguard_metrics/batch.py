"""What an aggregator hands a store: the deltas of one process since its last flush.

Deltas are keyed by series (the labels of :func:`~agentguard_metrics.store.series_labels`) and,
for counters and histograms, by 1-minute bucket start. A batch carries its process's id and a
sequence number, one more per batch; a store applies a batch only when its sequence is above
the highest it applied for that process, so a batch sent again after a lost reply is ignored
(docs/architecture.md, "Exactly-once batches").

A store checks a batch before writing any of it (:func:`check_batch`) and raises
:class:`InvalidBatch` for an amount it may not keep; the aggregator quarantines that batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from agentguard.limits import admits_total
from agentguard_metrics.errors import InvalidBatch as InvalidBatch  # noqa: PLC0414 (its old home: `as` re-exports for mypy)
from agentguard_metrics.sketch import Sketch

__all__ = [
    "BASE_RESOLUTION_S",
    "BucketKey",
    "DeltaBatch",
    "GaugeSet",
    "SeriesKey",
    "bucket_start",
    "check_batch",
]

BASE_RESOLUTION_S: Final = 60
"""The width of the finest time bucket, in seconds."""

SeriesKey: TypeAlias = tuple[str, tuple[str, ...]]
"""A series: the metric's name and its label values in the metric's label order."""
BucketKey: TypeAlias = tuple[str, tuple[str, ...], int]
"""A series in one time bucket: name, label values, the bucket's start in Unix seconds."""


def bucket_start(at_unix_s: float, resolution_s: int = BASE_RESOLUTION_S) -> int:
    """The start of the time bucket of width ``resolution_s`` that holds ``at_unix_s``."""
    return int(at_unix_s // resolution_s) * resolution_s


@dataclass(frozen=True, slots=True)
class GaugeSet:
    """The latest value a process set a gauge to (``agentguard_breaker_state``)."""

    value: float
    """The value."""
    at_unix_s: float
    """When the event that set it happened; the latest one wins across processes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeltaBatch:
    """The deltas of one process since its previous batch.

    The sketches belong to the batch once it is made: a store merges them into its own and
    never keeps them.
    """

    process_id: str
    """The process that made the batch; its gauge contributions are kept apart."""
    sequence: int
    """1 for the process's first batch, then one more for each. A store applies a batch only
    when this is above the highest sequence it applied for the process."""
    sent_at_unix_s: float
    """When the batch was made; it doubles as the process's heartbeat."""
    counters: Mapping[BucketKey, float] = field(default_factory=dict)
    """Amounts to add to counters."""
    histograms: Mapping[BucketKey, Sketch] = field(default_factory=dict)
    """Observations to merge into histograms."""
    gauge_deltas: Mapping[SeriesKey, float] = field(default_factory=dict)
    """Net ``inc``/``dec`` of gauges by this process (``agentguard_runs_in_progress``)."""
    gauge_sets: Mapping[SeriesKey, GaugeSet] = field(default_factory=dict)
    """Gauges set by this process (last writer wins)."""

    @property
    def batch_id(self) -> str:
        """``process_id:sequence``, for logs."""
        return f"{self.process_id}:{self.sequence}"

    @property
    def series_count(self) -> int:
        """How many entries the batch holds (its memory is proportional to this)."""
        return (
            len(self.counters)
            + len(self.histograms)
            + len(self.gauge_deltas)
            + len(self.gauge_sets)
        )

    def __bool__(self) -> bool:
        return self.series_count > 0


def check_batch(batch: DeltaBatch) -> None:
    """Raise :class:`InvalidBatch` if an amount of ``batch`` is not a sum a store may keep.

    Amounts, sketch sums and extremes and gauge values must be finite and within
    ``+-MAX_TOTAL`` (:func:`agentguard.limits.admits_total`); the work is one comparison per
    entry.
    """
    for (name, _, _), amount in batch.counters.items():
        if not admits_total(amount):
            raise InvalidBatch(batch.batch_id, name, f"amount {amount!r} is out of range")
    for (name, _, _), sketch in batch.histograms.items():
        for value in (sketch.sum, sketch.min, sketch.max):
            if sketch.count and not admits_total(value):
                raise InvalidBatch(batch.batch_id, name, f"observation {value!r} is out of range")
    for (name, _), delta in batch.gauge_deltas.items():
        if not admits_total(delta):
            raise InvalidBatch(batch.batch_id, name, f"gauge change {delta!r} is out of range")
    for (name, _), setting in batch.gauge_sets.items():
        if not admits_total(setting.value):
            raise InvalidBatch(
                batch.batch_id, name, f"gauge value {setting.value!r} is out of range"
            )
