"""A Redis that accepts connections and never answers (DESIGN.md R3): the agent goes on.

Publishing never waits for Redis, memory stays flat (deltas merge by series while the batch
waits), ``flush`` and ``close`` return within their timeouts, and once Redis answers again
everything is applied once. The latency figure of R3 is measured by ``bench/bench_redis.py``.
"""

from __future__ import annotations

import time

from agentguard import Bus
from agentguard.events import Event, LLMCallFinished, ToolCallFinished
from agentguard_metrics import Aggregator
from agentguard_redis import RedisStore, RedisSubscriber, connect
from support.redis_server import RedisServer
from support.tcp_proxy import TCPProxy
from support.waiting import wait_until


def one_round(at_unix_s: float) -> list[Event]:
    """20,000 LLM and 20,000 tool calls over a few models and tools, all at one moment."""
    return [
        event
        for i in range(20_000)
        for event in (
            LLMCallFinished(model=f"m{i % 3}", duration_s=0.2 + i % 50 / 100, at_unix_s=at_unix_s),
            ToolCallFinished(tool=f"t{i % 10}", duration_s=0.01, at_unix_s=at_unix_s),
        )
    ]


def test_a_blackholed_redis_never_holds_the_agent(redis_server: RedisServer) -> None:
    # Every event in one 1-minute bucket (a run crossing a minute would hold each series twice).
    events = one_round(at_unix_s=time.time())
    reference = Aggregator(interval_s=None)  # never flushed: holds one set of the series
    for event in events:
        reference.record(event)
    one_set = reference.held_series
    proxy = TCPProxy(redis_server.port)
    proxy.mode = "blackhole"
    try:
        store = RedisStore(connect(proxy.url, socket_timeout_s=0.5, connect_timeout_s=0.5))
        subscriber = RedisSubscriber(store, interval_s=0.05)
        bus = Bus()
        subscriber.attach(bus)
        held = []
        for _ in range(5):
            for event in events:
                bus.publish(event)
            held.append(subscriber.held_series)
        wait_until(lambda: subscriber.failed_flushes, 10, "a flush to fail")
        held.append(subscriber.held_series)
        # 200,000 events, and what is held does not grow with them: at most the batch Redis
        # never took plus the buffer filling meanwhile, one set of series each (whenever the
        # flushes were tried).
        assert 0 < one_set < 200
        assert all(one_set <= h <= 2 * one_set for h in held), (one_set, held)
        started = time.monotonic()
        assert subscriber.flush(0.3) is False
        assert time.monotonic() - started < 1.5
        proxy.mode = "pass"
        started = time.monotonic()
        while not subscriber.flush(2.0):
            assert time.monotonic() - started < 20, "never applied once Redis answered"
        reader = RedisStore(redis_server.url)
        assert reader.counter("agentguard_llm_calls_total") == 100_000
        assert reader.counter("agentguard_tool_calls_total") == 100_000
        assert reader.histogram("agentguard_llm_call_duration_seconds").count == 100_000
        proxy.mode = "blackhole"
        bus.publish(LLMCallFinished(model="m0", duration_s=0.1))
        started = time.monotonic()
        subscriber.close(timeout_s=2.0)  # the default bound of the exit flush
        assert time.monotonic() - started < 3.0
        reader.client.close()
    finally:
        proxy.close()
