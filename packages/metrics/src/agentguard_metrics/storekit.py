"""The contract for writing a store: everything a :class:`Store` implementation needs.

A store takes :class:`DeltaBatch` es from aggregators and answers the reads of :class:`Store`.
Subclass :class:`DerivedReads` and implement ``apply``, ``heartbeat``, ``counter``,
``histogram``, ``series``, ``counters``, ``histograms``, ``gauges`` and the primitives
``now``, ``read_steps`` and ``read_steps_by``; ``quantile``, ``gauge``, ``buckets`` and
``buckets_by`` follow. Check each batch whole before writing any of it (:func:`check_batch`),
cap label values across writers (:func:`batch_label_values`, :func:`fold_batch`), keep every
series by :func:`series_labels` at each roll-up of :data:`ROLLUPS`, and plan range reads with
:func:`plan_range`. A new store passes ``tests/metrics/store_contract.py`` (agentguard-redis's
``RedisStore`` is built from this module alone).
"""

from __future__ import annotations

from agentguard_metrics.batch import (
    BASE_RESOLUTION_S,
    BucketKey,
    DeltaBatch,
    GaugeSet,
    InvalidBatch,
    SeriesKey,
    bucket_start,
    check_batch,
)
from agentguard_metrics.caps import (
    DEFAULT_MAX_LABEL_VALUES,
    FORGET_LABEL_VALUES_S,
    LabelValue,
    batch_label_values,
    check_max_label_values,
    fold_batch,
)
from agentguard_metrics.sketch import DEFAULT_RELATIVE_ACCURACY, Sketch
from agentguard_metrics.store import (
    AGENT,
    ROLLUPS,
    Bucket,
    DerivedReads,
    LabelFilter,
    Rollup,
    Store,
    is_histogram,
    label_names,
    label_position,
    matcher,
    matches,
    plan_range,
    plan_steps,
    rollup_for,
    series_labels,
)

__all__ = [
    "AGENT",
    "BASE_RESOLUTION_S",
    "DEFAULT_MAX_LABEL_VALUES",
    "DEFAULT_RELATIVE_ACCURACY",
    "FORGET_LABEL_VALUES_S",
    "ROLLUPS",
    "Bucket",
    "BucketKey",
    "DeltaBatch",
    "DerivedReads",
    "GaugeSet",
    "InvalidBatch",
    "LabelFilter",
    "LabelValue",
    "Rollup",
    "SeriesKey",
    "Sketch",
    "Store",
    "batch_label_values",
    "bucket_start",
    "check_batch",
    "check_max_label_values",
    "fold_batch",
    "is_histogram",
    "label_names",
    "label_position",
    "matcher",
    "matches",
    "plan_range",
    "plan_steps",
    "rollup_for",
    "series_labels",
]
