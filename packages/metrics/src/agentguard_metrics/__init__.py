"""agentguard-metrics: events aggregated into counters, gauges and mergeable histograms.

Every process aggregates its events in memory and flushes them, as one batch of deltas, to a
store that adds up all processes exactly once::

    from agentguard_metrics import Aggregator, MemoryStore

    store = MemoryStore()
    aggregator = Aggregator(store)
    aggregator.attach()          # the default bus
    ...
    aggregator.flush(timeout_s=2.0)
    store.quantile("agentguard_llm_call_duration_seconds", 0.95, {"model": "claude-sonnet-4-5"})
"""

from __future__ import annotations

from agentguard_metrics.aggregator import Aggregator
from agentguard_metrics.batch import (
    BASE_RESOLUTION_S,
    BucketKey,
    DeltaBatch,
    GaugeSet,
    SeriesKey,
    bucket_start,
)
from agentguard_metrics.memory import MemoryStore
from agentguard_metrics.sketch import DEFAULT_RELATIVE_ACCURACY, Sketch, mapping_for
from agentguard_metrics.store import (
    AGENT,
    ROLLUPS,
    Bucket,
    Rollup,
    Store,
    is_histogram,
    label_names,
    matcher,
    matches,
    rollup_for,
    series_labels,
)

__all__ = [
    "AGENT",
    "BASE_RESOLUTION_S",
    "DEFAULT_RELATIVE_ACCURACY",
    "ROLLUPS",
    "Aggregator",
    "Bucket",
    "BucketKey",
    "DeltaBatch",
    "GaugeSet",
    "MemoryStore",
    "Rollup",
    "SeriesKey",
    "Sketch",
    "Store",
    "bucket_start",
    "is_histogram",
    "label_names",
    "mapping_for",
    "matcher",
    "matches",
    "rollup_for",
    "series_labels",
]
