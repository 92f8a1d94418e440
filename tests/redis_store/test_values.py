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

from agentguard import Bus
from agentguard.events import LLMCallFinished, ToolCallFinished
from agentguard.testing import FakeClock
from agentguard_metrics import Aggregator, DeltaBatch
from agentguard_redis import RedisStore, RedisSubscriber
from agentguard_redis._ops import compile_batch
from metrics.live import snapshot_and_stream
from support.redis_server import RedisServer

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


def test_a_poisoned_flush_is_refused_and_the_worker_flows_on(
    redis_server: RedisServer, clock: FakeClock
) -> None:
    bus = Bus(name="worker")
    writer = RedisStore(redis_server.url, clock=clock.time)
    worker = RedisSubscriber(writer, interval_s=None, clock=clock.time)
    worker.attach(bus)
    reader = RedisStore(redis_server.url, clock=clock.time)
    for _ in range(100):
        bus.publish(call(clock))
    assert worker.flush(2.0)
    for _ in range(10):
        bus.publish(call(clock))
    bus.publish(call(clock, cost=1e308))  # finite, so the event is made; the sum is not
    bus.publish(call(clock, cost=1e308))
    assert worker.flush(2.0)  # refused and counted, not kept for the next flush
    clock.advance(60.0)
    for _ in range(1_200):
        bus.publish(call(clock))
    assert worker.close(2.0)  # the later batches flow

    assert reader.counter(CALLS) == 1_312.0  # each call once, the poisoned ones too
    assert reader.counter(COST) == pytest.approx(0.25 * 1_310)  # not their costs
    assert reader.counter(INVALID, {"field": COST}) == 2.0
    assert worker.failed_flushes == 0
    assert worker.quarantined_batches == 0
    assert worker.redis_store.skipped_chunks == 0  # nothing was sent twice
    snapshot, streamed, query = snapshot_and_stream(reader, clock.time)
    assert snapshot["cost_usd_total"] == streamed["cost_usd_total"] == pytest.approx(327.5)
    assert query["summary"]["totalCost"] == pytest.approx(327.5)


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
        store._apply(keys=[*keys, *chunk.keys], args=["w", "1", 0, "0.0", "e", *chunk.args])
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


def test_totals_poisoned_before_are_read_as_refused(client: redis.Redis, clock: FakeClock) -> None:
    store = RedisStore(client, clock=clock.time)
    worker = Aggregator(store, process_id="w", interval_s=None, clock=clock.time)
    worker.record(call(clock, cost=0.125))
    assert worker.flush(2.0)
    # What an agentguard without limits left behind: a cost and a duration sum of 1e308.
    poisoned = 0
    for key in client.scan_iter(match=f"{store._keys.tag}:*"):
        if client.type(key) != b"hash":
            continue
        for name, value in client.hgetall(key).items():
            if value == b"0.125" or (name == b"#s" and value == b"0.5"):
                client.hset(key, name, "1e308")
                poisoned += 1
    assert poisoned > 0
    clock.advance(60.0)
    worker.record(call(clock, cost=0.125))  # the reads now sum 1e308 and more: infinity
    assert worker.flush(2.0)
    snapshot, streamed, query = snapshot_and_stream(store, clock.time)
    assert query["summary"]["totalCost"] is None
    assert query["summary"]["averageLatency"] is None
    for document in (snapshot, streamed):
        assert document["cost_usd_total"] is None
        assert document["endpoints"]["llm:m"]["avg_duration_ms"] is None
        assert document["total_executions"] == 2
