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

and served over HTTP (Prometheus, a snapshot, the time-series query, a page)::

    from agentguard_metrics import MetricsService, create_app

    with MetricsService(create_app(store), port=9464) as service:
        print(service.url)
"""

from __future__ import annotations

from agentguard_metrics.aggregator import Aggregator
from agentguard_metrics.app import (
    DEFAULT_MAX_STREAMS_PER_CLIENT,
    DEFAULT_RATE_LIMIT_PER_S,
    create_app,
    stop_streams,
)
from agentguard_metrics.batch import (
    BASE_RESOLUTION_S,
    BucketKey,
    DeltaBatch,
    GaugeSet,
    SeriesKey,
    bucket_start,
    check_batch,
)
from agentguard_metrics.caps import (
    DEFAULT_MAX_LABEL_VALUES,
    FORGET_LABEL_VALUES_S,
    OTHER,
    LabelValue,
    batch_label_values,
    check_max_label_values,
    fold_batch,
)
from agentguard_metrics.errors import InvalidBatch
from agentguard_metrics.exposition import StoreCollector, bucket_counts
from agentguard_metrics.insights import Insight, Severity
from agentguard_metrics.memory import MemoryStore
from agentguard_metrics.params import (
    AGGREGATIONS,
    ALLOWED_GRANULARITIES,
    DEFAULT_GRANULARITY,
    FORMATS,
    GRANULARITIES,
    GROUPS,
    PARAMETERS,
    TIMEFRAMES,
    InvalidParameter,
    QueryParams,
    parse_query,
)
from agentguard_metrics.query import QueryEngine
from agentguard_metrics.server import DEFAULT_HOST, DEFAULT_PORT, MetricsService, serve
from agentguard_metrics.sketch import DEFAULT_RELATIVE_ACCURACY, Sketch, mapping_for
from agentguard_metrics.store import (
    AGENT,
    ROLLUPS,
    Bucket,
    DerivedReads,
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
    "AGGREGATIONS",
    "ALLOWED_GRANULARITIES",
    "BASE_RESOLUTION_S",
    "DEFAULT_GRANULARITY",
    "DEFAULT_HOST",
    "DEFAULT_MAX_LABEL_VALUES",
    "DEFAULT_MAX_STREAMS_PER_CLIENT",
    "DEFAULT_PORT",
    "DEFAULT_RATE_LIMIT_PER_S",
    "DEFAULT_RELATIVE_ACCURACY",
    "FORGET_LABEL_VALUES_S",
    "FORMATS",
    "GRANULARITIES",
    "GROUPS",
    "OTHER",
    "PARAMETERS",
    "ROLLUPS",
    "TIMEFRAMES",
    "Aggregator",
    "Bucket",
    "BucketKey",
    "DeltaBatch",
    "DerivedReads",
    "GaugeSet",
    "Insight",
    "InvalidBatch",
    "InvalidParameter",
    "LabelValue",
    "MemoryStore",
    "MetricsService",
    "QueryEngine",
    "QueryParams",
    "Rollup",
    "SeriesKey",
    "Severity",
    "Sketch",
    "Store",
    "StoreCollector",
    "batch_label_values",
    "bucket_counts",
    "bucket_start",
    "check_batch",
    "check_max_label_values",
    "create_app",
    "fold_batch",
    "is_histogram",
    "label_names",
    "label_position",
    "mapping_for",
    "matcher",
    "matches",
    "parse_query",
    "plan_range",
    "plan_steps",
    "rollup_for",
    "series_labels",
    "serve",
    "stop_streams",
]
