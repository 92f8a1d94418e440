"""Extreme values: refused and counted by the aggregator and the memory store, never served.

Issue 19: one ``duration_s=1e308`` made ``avg_duration_ms`` infinite, and huge costs in two
flushes made ``cost_usd_total`` infinite; the snapshot then answered 500 and the stream
aborted, for good. That every store refuses a batch out of range whole is in the store
contract (``store_contract.py``).
"""

from __future__ import annotations

import math

import pytest

from agentguard import Bus
from agentguard.events import LLMCallFinished
from agentguard.testing import FakeClock
from agentguard_metrics import Aggregator, MemoryStore
from service.live import snapshot_and_stream

COST = "agentguard_llm_cost_usd_total"
DURATION = "agentguard_llm_call_duration_seconds"
INVALID = "agentguard_invalid_values_total"


def call(clock: FakeClock, **fields: float) -> LLMCallFinished:
    values: dict[str, float] = {"duration_s": 0.5, "input_cost_usd": 0.25, **fields}
    return LLMCallFinished(model="m", input_tokens=10, at_unix_s=clock.time(), **values)  # type: ignore[arg-type]  # floats for float fields


def test_extreme_values_never_reach_the_snapshot_or_the_stream(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock.time)
    bus = Bus(name="values")
    aggregator = Aggregator(store, process_id="w", interval_s=None, clock=clock.time)
    aggregator.attach(bus)
    bus.publish(call(clock))
    bus.publish(call(clock, duration_s=1e308))
    assert aggregator.flush(1.0)
    bus.publish(call(clock, input_cost_usd=1e308))  # huge costs in two flushes
    assert aggregator.flush(1.0)
    bus.publish(call(clock, input_cost_usd=1e308))
    bus.publish(call(clock, input_cost_usd=math.inf, duration_s=-1.0))
    assert aggregator.close(1.0)

    snapshot, streamed, query = snapshot_and_stream(store, clock.time)
    assert query["summary"]["totalExecutions"] == 5
    assert query["summary"]["totalCost"] == pytest.approx(0.25 * 2)
    for document in (snapshot, streamed):
        assert document["total_executions"] == 5  # every call counts; its bad value does not
        assert document["cost_usd_total"] == pytest.approx(0.25 * 2)
        assert document["endpoints"]["llm:m"]["avg_duration_ms"] == pytest.approx(500.0)
    assert store.counters(INVALID) == {
        (DURATION, ""): 2.0,  # 1e308 and -1
        (COST, ""): 3.0,  # 1e308 twice, inf once
    }
