"""Extreme values against a real redis-server: refused whole, quarantined, never served.

Issue 19: two ``input_cost_usd=1e308`` in one flush summed to infinity; ``APPLY`` failed
halfway (``value is NaN or Infinity``), kept the writes before the error, recorded no mark,
and the aggregator sent the batch again every second: the partial writes counted again each
time, and every later batch of that worker waited behind it for ever.
"""

from __future__ import annotations

import logging

import pytest
import redis

from agentguard.events import LLMCallFinished, ToolCallFinished
from agentguard.testing import FakeClock
from agentguard_metrics import Aggregator, DeltaBatch
from agentguard_redis import RedisStore
from agentguard_redis._ops import compile_batch

CALLS = "agentguard_llm_calls_total"
COST = "agentguard_llm_cost_usd_total"
TOOLS = "agentguard_tool_calls_total"
DURATION = "agentguard_llm_call_duration_seconds"
INVALID = "agentguard_invalid_values_total"
DROPPED = "agentguard_events_dropped_total"


def call(clock: FakeClock, cost: float = 0.25) -> LLMCallFinished:
    return LLMCallFinished(
        model="m", duration_s=0.5, input_tokens=10, input_cost_usd=cost, at_unix_s=clock.time()
    )


def _poisoned(clock: FakeClock) -> DeltaBatch:
    bucket = int(clock.time()) // 60 * 60
    return DeltaBatch(
        process_id="old-worker",
        sequence=1,
        sent_at_unix_s=clock.time(),
        counters={
            (CALLS, ("m", "ok", ""), bucket): 2.0,
            (COST, ("m", "input", ""), bucket): 1e308 * 10,  # what two 1e308 summed to
        },
    )


def test_the_script_refuses_a_chunk_out_of_range_before_its_first_write(
    client: redis.Redis, clock: FakeClock
) -> None:
    store = RedisStore(client, clock=clock.time)
    batch = _poisoned(clock)
    # The store refuses it before sending (the store contract); the script refuses it too,
    # for a client that skipped that check.
    chunk = compile_batch(batch, store._keys, clock.time())[0]
    keys = [store._keys.seq, store._keys.hb, store._keys.meta]
    with pytest.raises(redis.ResponseError, match="agentguard: invalid chunk: value inf"):
        store._router.apply(0, [*keys, *chunk.keys], ["w", "1", 0, "0.0", "e", *chunk.args])
    assert client.dbsize() == 0  # all or nothing: nothing
    assert store.counter(CALLS) == 0.0


def test_a_batch_redis_refuses_is_quarantined_and_later_batches_flow(
    client: redis.Redis, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore(client, clock=clock.time)
    worker = Aggregator(store, process_id="w", interval_s=None, clock=clock.time)
    client.set(store._keys.series(TOOLS), "not a set")  # something else wrote our key
    worker.record(ToolCallFinished(tool="t", duration_s=0.1, at_unix_s=clock.time()))
    with caplog.at_level(logging.ERROR, logger="agentguard_metrics"):
        assert worker.flush(2.0)  # refused for its content: set aside, not sent again
    assert worker.quarantined_batches == 1
    assert [b.sequence for b in worker.quarantined] == [1]
    assert any("WRONGTYPE" in r.getMessage() for r in caplog.records)
    for _ in range(3):
        worker.record(call(clock))
        assert worker.flush(2.0)
    assert store.counter(CALLS) == 3.0
    assert store.counter(DROPPED, {"reason": "batch_quarantined"}) == 1.0
    assert worker.failed_flushes == 0
    assert worker.held_series == 0
