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

This is the model every worker needs, with no web stack. The service over a store (the query
engine, ``create_app``, ``MetricsService``) is agentguard-service; writing a store of your
own starts at :mod:`agentguard_metrics.storekit`.
"""

from __future__ import annotations

import importlib
import typing
import warnings

from agentguard_metrics.aggregator import Aggregator
from agentguard_metrics.batch import (
    BASE_RESOLUTION_S,
    BucketKey,
    DeltaBatch,
    GaugeSet,
    SeriesKey,
    bucket_start,
)
from agentguard_metrics.caps import DEFAULT_MAX_LABEL_VALUES, OTHER
from agentguard_metrics.errors import InvalidBatch
from agentguard_metrics.memory import MemoryStore
from agentguard_metrics.sketch import DEFAULT_RELATIVE_ACCURACY, Sketch
from agentguard_metrics.store import AGENT, ROLLUPS, Bucket, Rollup, Store

__all__ = [
    "AGENT",
    "BASE_RESOLUTION_S",
    "DEFAULT_MAX_LABEL_VALUES",
    "DEFAULT_RELATIVE_ACCURACY",
    "OTHER",
    "ROLLUPS",
    "Aggregator",
    "Bucket",
    "BucketKey",
    "DeltaBatch",
    "GaugeSet",
    "InvalidBatch",
    "MemoryStore",
    "Rollup",
    "SeriesKey",
    "Sketch",
    "Store",
    "bucket_start",
]

_SERVICE_NAMES = frozenset(
    {
        "AGGREGATIONS",
        "ALLOWED_GRANULARITIES",
        "DEFAULT_GRANULARITY",
        "DEFAULT_HOST",
        "DEFAULT_MAX_STREAMS_PER_CLIENT",
        "DEFAULT_PORT",
        "DEFAULT_RATE_LIMIT_PER_S",
        "FORMATS",
        "GRANULARITIES",
        "GROUPS",
        "PARAMETERS",
        "TIMEFRAMES",
        "Insight",
        "InvalidParameter",
        "MetricsService",
        "QueryEngine",
        "QueryParams",
        "Severity",
        "StoreCollector",
        "bucket_counts",
        "create_app",
        "parse_query",
        "serve",
        "stop_streams",
    }
)
"""Names this package exported before agentguard-service held them (one release more)."""
_STOREKIT_NAMES = frozenset(
    {
        "DerivedReads",
        "FORGET_LABEL_VALUES_S",
        "LabelValue",
        "batch_label_values",
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
    }
)
"""Names this package exported for store implementations, now in :mod:`.storekit`."""


def __getattr__(name: str) -> typing.Any:
    """The names that moved, importable here with a ``DeprecationWarning`` for one release."""
    if name == "mapping_for":
        module, home = "agentguard_metrics.sketch", "agentguard_metrics.sketch"
    elif name in _STOREKIT_NAMES:
        module, home = "agentguard_metrics.storekit", "agentguard_metrics.storekit"
    elif name in _SERVICE_NAMES:
        module, home = "agentguard_service", "agentguard_service (pip install agentguard-service)"
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"agentguard_metrics.{name} moved: import it from {home}",
        DeprecationWarning,
        stacklevel=2,
    )
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise  # agentguard-service is there and one of its own dependencies is not
        raise ImportError(
            f"agentguard_metrics.{name} is now in agentguard-service: "
            "pip install agentguard-service, then import it from agentguard_service",
            name=name,
        ) from exc
    return getattr(found, name)
