"""What a scoped token's reads cost against the whole store's (issue 16, item 3; no target).

A token that may read only some agents reads through ``ScopedStore``, a view of the store
that keeps the series of those agents. Measured in process on the dashboard's busy hour
(tests/service/busy.py: three agents, three models, tools, breakers, alerts) in a memory
store: the 24 h query at 1m (every group) and the snapshot, for the full token, the full
token narrowed with ``agent=support``, and tokens of one and of two agents; best CPU time of
several runs (``time.process_time``: what the service spends, whatever else the machine runs).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry

from agentguard_metrics import Store
from agentguard_service import QueryEngine, QueryParams, StoreCollector, Token
from agentguard_service._scoped import ScopedStore
from bench._harness import Report

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from service import busy

COMMAND = "nox -s bench -- scopes   (or: python -m bench scopes)"
REPEAT = 5


def _best_cpu_ms(call: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEAT):
        started = time.process_time()
        call()
        best = min(best, time.process_time() - started)
    return best * 1000.0


def _exposition(store: Store) -> Callable[[], object]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))
    return lambda: generate_latest(registry)


def run() -> Report:
    """Measure and return the report."""
    report = Report("scopes: a scoped token's reads against the whole store's", COMMAND)
    now = time.time()
    store = busy.build(now)
    one = ScopedStore(store, Token(name="one", secret="bench-1", scopes=("agents:support",)))
    two = ScopedStore(
        store,
        Token(name="two", secret="bench-2", scopes=("agents:support", "agents:billing")),
    )
    day = QueryParams(timeframe="24h", granularity="1m")
    narrowed = QueryParams(timeframe="24h", granularity="1m", agent="support")
    rows: list[tuple[str, Store, QueryParams]] = [
        ("full token", store, day),
        ("full token, agent=support", store, narrowed),
        ("token of support", one, day),
        ("token of support and billing", two, day),
    ]
    full_ms = 0.0
    for label, read, params in rows:
        engine = QueryEngine(read, clock=lambda: now)
        ms = _best_cpu_ms(partial(engine.query, params))
        full_ms = full_ms or ms
        snapshot = _best_cpu_ms(engine.snapshot)
        metrics = _best_cpu_ms(_exposition(read))
        report.lines.append(
            f"  {'24h at 1m, every group: ' + label:<58} {ms:10.3g} ms"
            f"  [{ms / full_ms:.2f} x the full token; snapshot {snapshot:.2g} ms, "
            f"/metrics body {metrics:.2g} ms]"
        )
    return report
