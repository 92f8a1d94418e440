"""The metrics aggregator: events per second into it (P5) and merged quantile error (P7).

P5 asks for 200k events/s per process with the Redis store attached; until that store exists
this measures the aggregator over the in-memory store, flushed every 10,000 events, through a
bus as an agent would publish. P7: 8 aggregators (8 "processes") each fed a different
log-normal sample of LLM call durations, flushed into one store; the store's p95 and p99
against the exact values (numpy's ``method="lower"``) of the union.

The aggregator turns each event into deltas with ``agentguard.metricmap.effects``; that call
alone is most of the time per event (it builds an ``Effect`` per rule), so it bounds the rate.
"""

from __future__ import annotations

import math
import random
import time

from agentguard import Bus
from agentguard.events import LLMCallFinished
from agentguard.metricmap import effects
from agentguard_metrics import Aggregator, MemoryStore
from bench._harness import Report, ns_per_call, sample_llm_call

COMMAND = "nox -s bench -- metrics   (or: python -m bench metrics)"

_EVENT = sample_llm_call()
_DURATION = "agentguard_llm_call_duration_seconds"


def _effects() -> object:
    return effects(_EVENT)


def _events_per_s(*, through_bus: bool, events: int = 50_000, flush_every: int = 10_000) -> float:
    """Best of 3 runs: events per second, flushes into a memory store included."""
    best = 0.0
    for _ in range(3):
        aggregator = Aggregator(MemoryStore(), process_id="bench")
        bus = Bus()
        aggregator.attach(bus)
        publish = bus.publish if through_bus else aggregator.record
        event = _EVENT
        started = time.perf_counter()
        for _ in range(events // flush_every):
            for _ in range(flush_every):
                publish(event)
            aggregator.flush(2.0)
        best = max(best, events / (time.perf_counter() - started))
        aggregator.close()
    return best


def _merged_quantile_error(processes: int = 8, per_process: int = 20_000) -> dict[float, float]:
    """Relative error of the store's p95 and p99 over ``processes`` merged aggregators."""
    rng = random.Random(7)
    store = MemoryStore()
    union: list[float] = []
    now = time.time()
    for i in range(processes):
        aggregator = Aggregator(store, process_id=f"worker-{i}")
        mu = rng.uniform(-1.0, 1.0)  # each process sees a different distribution
        for _ in range(per_process):
            duration = rng.lognormvariate(mu, 0.8)
            union.append(duration)
            aggregator.record(LLMCallFinished(model="m", duration_s=duration, at_unix_s=now))
        aggregator.flush(2.0)
    union.sort()
    errors: dict[float, float] = {}
    for q in (0.95, 0.99):
        exact = union[math.floor(q * (len(union) - 1))]
        got = store.quantile(_DURATION, q)
        errors[q] = math.inf if got is None else abs(got - exact) / exact
    return errors


def run() -> Report:
    """Measure and return the report."""
    report = Report("metrics: aggregation (DESIGN.md P5, P7)", COMMAND)
    bus_rate = _events_per_s(through_bus=True)
    direct_rate = _events_per_s(through_bus=False)
    report.lines.append(
        f"  {'P5 LLMCallFinished through a bus into the aggregator':<58} {bus_rate:10,.0f} /s"
        "  [memory store, flush every 10,000; P5's 200k/s is with Redis]"
    )
    report.lines.append(
        f"  {'    the same, aggregator.record called directly':<58} {direct_rate:10,.0f} /s"
    )
    report.measured("    per event through the bus", 1e9 / bus_rate)
    report.measured(
        "    of which metricmap.effects(event) alone", ns_per_call(_effects, number=20_000)
    )
    for q, error in _merged_quantile_error().items():
        report.target(
            f"P7 p{round(q * 100)} over 8 merged processes, relative error", error * 100, 1.0, "%"
        )
    return report


if __name__ == "__main__":
    run().print()
