"""The service over the Redis store: what workers flushed is what it serves.

Issue 19 over Redis: a flush poisoned with ``input_cost_usd=1e308`` is refused whole and the
worker flows on; the snapshot, the stream and the query then serve the sums without it.
"""

from __future__ import annotations

import pytest

from agentguard import Bus
from agentguard.events import LLMCallFinished
from agentguard.testing import FakeClock
from agentguard_metrics import Aggregator
from agentguard_redis import RedisStore, RedisSubscriber
from service.live import snapshot_and_stream
from support.redis_server import RedisServer

CALLS = "agentguard_llm_calls_total"
COST = "agentguard_llm_cost_usd_total"
INVALID = "agentguard_invalid_values_total"


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


def test_totals_poisoned_before_are_read_as_refused(
    redis_server: RedisServer, clock: FakeClock
) -> None:
    store = RedisStore(redis_server.url, clock=clock.time)
    client = store.client
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
