"""The metrics service's reads at scale: 20 workers x 100 models (issue 19, DESIGN.md P6).

A separate benchmark (``python -m bench scale``), not part of ``python -m bench``'s default
run: filling a Redis with 30 days of 2,000 models takes a while.

The workload: 20 worker processes (``process_id`` ``w0`` .. ``w19``, agents ``agent-0`` ..
``agent-4``), each calling 100 models of its own (2,000 model names in all; a worker's
aggregator keeps 100 values per label, so none folds in process) and 10 shared tools. Every
model has data at 4 minutes of the last 24 h and at one minute every third day before that,
back to 30 days: per point an LLM call (``calls``, ``tokens`` input and output, ``cost``, a
latency sketch) and per worker and point 10 tool calls. Each worker sends one batch per point
through ``Store.apply``, as its flusher would.

The stores and the service run on a clock that stands still at the end of the fill, so every
request reads the same window however long it takes. Measured, each the best of a few
requests over one keep-alive HTTP connection to a ``MetricsService`` (warm: the first request
fills a Redis reader's cache): ``/metrics``, and
``GET /api/v1/metrics`` over every group for 24 h at 1m (P6: within 100 ms), 7 d at 15m and
30 d at 1h; on the memory store and on one redis-server started here, each twice: with the
store's cardinality cap at its default (100 values per label: the 2,000 models fold into 100
and ``other``) and with the cap out of the way (``max_label_values=10_000``: every model kept,
the cost of the reads themselves at 2,000 models).
"""

from __future__ import annotations

import itertools
import random
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx2

from agentguard.metricmap import (
    LLM_CALLS,
    LLM_COST,
    LLM_DURATION,
    LLM_TOKENS,
    TOOL_CALLS,
    TOOL_DURATION,
)
from agentguard_metrics import (
    DEFAULT_MAX_LABEL_VALUES,
    DeltaBatch,
    MemoryStore,
    Sketch,
    Store,
    bucket_start,
)
from agentguard_redis import SERVICE_READ_STALENESS_S, RedisStore
from agentguard_service import MetricsService, create_app
from bench._harness import Report
from bench.bench_query import _best_ms

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from support.redis_server import RedisServer

COMMAND = "python -m bench scale   (or: nox -s bench -- scale)"

WORKERS = 20
MODELS_PER_WORKER = 100
_DAY = 86400
QUERIES = (("24h", "1m", 100.0), ("7d", "15m", None), ("30d", "1h", None))
"""Timeframe, granularity, and the P6 target in ms where there is one."""

StoreFactory = Callable[[Callable[[], float], int], Store]
"""A fresh, empty store on the given clock, with the given ``max_label_values``."""
CAPS = ((DEFAULT_MAX_LABEL_VALUES, "cap 100"), (10_000, "no cap"))
"""The store's cap: the default (P6's target applies), and out of the way (no target: it shows
what the reads cost at 2,000 models)."""


def _points(now: float, worker: int) -> list[int]:
    """The minutes a worker has data at: 4 in the last 24 h, one every third day before."""
    recent = [bucket_start(now - (k * 6 + 1) * 3600 - worker * 60) for k in range(4)]
    older = [bucket_start(now - day * _DAY - worker * 60) for day in range(2, 30, 3)]
    return sorted(recent + older)


def fill_scale(store: Store, now: float) -> int:
    """The 20 workers' batches up to ``now``, applied; returns how many deltas they held."""
    rng = random.Random(19)
    deltas = 0
    for worker in range(WORKERS):
        agent = f"agent-{worker % 5}"
        for sequence, at in enumerate(_points(now, worker), start=1):
            counters: dict[tuple[str, tuple[str, ...], int], float] = {}
            sketches: dict[tuple[str, tuple[str, ...], int], Sketch] = {}
            for m in range(MODELS_PER_WORKER):
                model = f"w{worker}-model-{m}"
                counters[(LLM_CALLS.name, (model, "ok", agent), at)] = 2.0
                counters[(LLM_TOKENS.name, (model, "input", agent), at)] = 1200.0
                counters[(LLM_TOKENS.name, (model, "output", agent), at)] = 300.0
                counters[(LLM_COST.name, (model, "input", agent), at)] = 0.0036
                sketch = Sketch()
                sketch.add(rng.lognormvariate(0.0, 0.6))
                sketch.add(rng.lognormvariate(0.0, 0.6))
                sketches[(LLM_DURATION.name, (model, agent), at)] = sketch
            for t in range(10):
                counters[(TOOL_CALLS.name, (f"tool-{t}", "ok", agent), at)] = 1.0
                sketch = Sketch()
                sketch.add(rng.lognormvariate(-3.0, 0.5))
                sketches[(TOOL_DURATION.name, (f"tool-{t}", agent), at)] = sketch
            deltas += len(counters) + len(sketches)
            store.apply(
                DeltaBatch(
                    process_id=f"w{worker}",
                    sequence=sequence,
                    sent_at_unix_s=now,
                    counters=counters,
                    histograms=sketches,
                )
            )
    return deltas


def _redis_factory(stack: ExitStack) -> StoreFactory:
    server = RedisServer(Path(stack.enter_context(tempfile.TemporaryDirectory())))
    server.start()
    stack.callback(server.kill)
    numbers = itertools.count()
    return lambda clock, cap: RedisStore(
        server.url,
        clock=clock,
        prefix=f"scale{next(numbers)}",
        read_staleness_s=SERVICE_READ_STALENESS_S,
        max_label_values=cap,
    )


def run() -> Report:
    """Measure and return the report."""
    report = Report(
        f"scale: the service's reads at {WORKERS} workers x {MODELS_PER_WORKER} models", COMMAND
    )
    with ExitStack() as stack:
        factories: dict[str, StoreFactory] = {
            "memory": lambda clock, cap: MemoryStore(clock=clock, max_label_values=cap),
            "redis": _redis_factory(stack),
        }
        for name, factory in factories.items():
            for cap, what in CAPS:
                _measure(report, f"{name}, {what}", factory, cap)
    return report


def _measure(report: Report, name: str, factory: StoreFactory, cap: int) -> None:
    now = time.time()
    frozen = lambda: now  # noqa: E731 (a clock that stands still: every request reads one window)
    store = factory(frozen, cap)
    started = time.perf_counter()
    deltas = fill_scale(store, now)
    filled = time.perf_counter() - started
    report.lines.append(f"  [{name}] {deltas:,} deltas applied in {filled:.1f} s")
    with (
        MetricsService(create_app(store, rate_limit_per_s=None, clock=frozen)) as service,
        httpx2.Client(base_url=service.url, timeout=300.0) as http,
    ):
        text = http.get("/metrics").text
        lines = sum(1 for line in text.splitlines() if not line.startswith("#"))
        ms, cpu = _best_ms(http, "/metrics", 3)
        report.lines.append(
            f"  {'/metrics [' + name + ']':<58} {ms:10.4g} ms  [{lines:,} lines; cpu {cpu:.0f} ms]"
        )
        for timeframe, granularity, limit in QUERIES:
            path = f"/api/v1/metrics?timeframe={timeframe}&granularity={granularity}"
            ms, cpu = _best_ms(http, path, 5)
            what = f"{timeframe} at {granularity}, every group [{name}]"
            if limit is None or cap != DEFAULT_MAX_LABEL_VALUES:  # P6 is the product's default
                report.lines.append(f"  {what:<58} {ms:10.4g} ms  [cpu {cpu:.0f} ms; no target]")
            else:
                report.target(f"P6 {what}", ms, limit, "ms", f"cpu {cpu:.0f} ms")


if __name__ == "__main__":
    run().print()
