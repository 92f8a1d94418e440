"""agentguard-service: the metrics service over any agentguard-metrics store.

Prometheus ``/metrics``, a JSON snapshot, the time-series query API with insights, a live
event stream and the dashboard page, over the in-memory store or the Redis store::

    from agentguard_metrics import Aggregator, MemoryStore
    from agentguard_service import MetricsService, create_app

    store = MemoryStore()
    Aggregator(store).attach()
    with MetricsService(create_app(store), port=9464) as service:
        print(service.url)

``QueryEngine(store)`` answers the same snapshot and queries without HTTP.
"""

from __future__ import annotations

from agentguard_service._tokens import (
    ALERTS_SCOPE,
    ALL_AGENTS_SCOPE,
    Token,
    TokenFileError,
    check_tokens,
    load_tokens,
)
from agentguard_service.app import (
    DEFAULT_MAX_STREAMS_PER_CLIENT,
    DEFAULT_RATE_LIMIT_PER_S,
    create_app,
    stop_streams,
)
from agentguard_service.batch import BatchItem, BatchQuery, parse_batch
from agentguard_service.exposition import StoreCollector, bucket_counts
from agentguard_service.insights import Insight, Severity
from agentguard_service.params import (
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
from agentguard_service.query import QueryEngine
from agentguard_service.server import DEFAULT_HOST, DEFAULT_PORT, MetricsService, serve

__all__ = [
    "AGGREGATIONS",
    "ALERTS_SCOPE",
    "ALLOWED_GRANULARITIES",
    "ALL_AGENTS_SCOPE",
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
    "BatchItem",
    "BatchQuery",
    "Insight",
    "InvalidParameter",
    "MetricsService",
    "QueryEngine",
    "QueryParams",
    "Severity",
    "StoreCollector",
    "Token",
    "TokenFileError",
    "bucket_counts",
    "check_tokens",
    "create_app",
    "load_tokens",
    "parse_batch",
    "parse_query",
    "serve",
    "stop_streams",
]
