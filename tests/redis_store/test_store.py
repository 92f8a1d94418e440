"""The Redis store: applied once through lost replies and partial chunks, scripts reloaded,
retention by TTL, silent processes forgotten, misuse refused."""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

import pytest
import redis

from agentguard.events import LLMCallFinished, RunStarted, ToolCallFinished
from agentguard.testing import FakeClock
from agentguard_metrics import Aggregator, DeltaBatch
from agentguard_redis import RedisStore, RedisSubscriber, connect
from support.redis_server import RedisServer
from support.tcp_proxy import TCPProxy

CALLS = "agentguard_llm_calls_total"
TOOLS = "agentguard_tool_calls_total"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def call(clock: FakeClock, model: str = "m") -> LLMCallFinished:
    return LLMCallFinished(model=model, duration_s=0.5, input_tokens=10, at_unix_s=clock.time())


def test_a_lost_reply_is_applied_once(redis_server: RedisServer, clock: FakeClock) -> None:
    proxy = TCPProxy(redis_server.port)
    try:
        through = RedisStore(connect(proxy.url, socket_timeout_s=0.3), clock=clock.time)
        reader = RedisStore(redis_server.url, clock=clock.time)
        aggregator = Aggregator(through, process_id="w", interval_s=None)
        aggregator.record(call(clock))
        assert aggregator.flush(2.0)  # the script is loaded now
        for _ in range(3):
            aggregator.record(call(clock))
        proxy.mode = "drop_replies"
        assert not aggregator.flush(2.0)  # Redis applied it; the reply never came
        assert reader.counter(CALLS) == 4.0
        aggregator.record(call(clock))
        assert not aggregator.flush(2.0)  # sent again, skipped by Redis, the reply lost again
        proxy.mode = "pass"
        assert aggregator.flush(2.0)  # the kept batch (skipped), then the new one
        assert reader.counter(CALLS) == 5.0
        assert through.skipped_chunks == 1
        assert aggregator.failed_flushes == 2
    finally:
        proxy.close()


def test_a_batch_half_applied_is_finished_once(
    client: redis.Redis, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisStore(client, clock=clock.time, max_args=100)  # many small chunks
    batch_events = [
        ToolCallFinished(tool=f"t{i}", duration_s=0.01 * (i + 1), at_unix_s=clock.time())
        for i in range(40)
    ]
    aggregator = Aggregator(store, process_id="w", interval_s=None)
    for event in batch_events:
        aggregator.record(event)
    router: Any = store._router  # the test breaks the third script call on purpose
    real = router.apply
    calls = 0

    def breaks_third(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise redis.ConnectionError("connection lost between two chunks")
        return real(*args)

    monkeypatch.setattr(router, "apply", breaks_third)
    assert not aggregator.flush(1.0)
    assert 0 < store.counter(TOOLS) < 40  # two chunks landed
    monkeypatch.setattr(router, "apply", real)
    assert aggregator.flush(1.0)
    assert store.counter(TOOLS) == 40.0
    assert store.skipped_chunks == 2
    assert store.histogram("agentguard_tool_call_duration_seconds").count == 40
    assert len(store.series(TOOLS)) == 40


def test_scripts_come_back_after_a_script_flush(client: redis.Redis, clock: FakeClock) -> None:
    store = RedisStore(client, clock=clock.time)
    aggregator = Aggregator(store, process_id="w", interval_s=None)
    aggregator.record(call(clock))
    assert aggregator.flush(1.0)
    client.script_flush()  # as after a restart or a failover: NOSCRIPT next time
    aggregator.record(call(clock))
    assert aggregator.flush(1.0)
    assert store.counter(CALLS) == 2.0


def test_buckets_expire_with_their_retention(client: redis.Redis) -> None:
    store = RedisStore(client)  # the real clock: TTLs are the server's
    aggregator = Aggregator(store, process_id="w", interval_s=None)
    aggregator.record(LLMCallFinished(model="m", duration_s=0.5))
    assert aggregator.flush(1.0)
    keys = {_text(key): client.ttl(key) for key in client.scan_iter("{agentguard}:c:*")}
    by_resolution = {int(key.split(":")[2]): ttl for key, ttl in keys.items()}
    day = 24 * 3600
    assert day < by_resolution[60] <= day + 60 + 60 + 1  # bucket end + 24 h + slack
    assert 7 * day < by_resolution[900] <= 7 * day + 900 + 60 + 1
    assert 30 * day < by_resolution[3600] <= 30 * day + 3600 + 60 + 1
    assert by_resolution[86400] == -1  # daily buckets are kept for ever
    assert all(_text(key).startswith("{agentguard}:") for key in client.scan_iter("*"))


def test_silent_processes_are_forgotten(client: redis.Redis, clock: FakeClock) -> None:
    store = RedisStore(client, clock=clock.time, liveness_s=30, forget_processes_s=3600)
    for worker in ("a", "b"):
        aggregator = Aggregator(store, process_id=worker, clock=clock.time, interval_s=None)
        aggregator.record(RunStarted(agent="x", at_unix_s=clock.time()))
        assert aggregator.flush(1.0)
    assert store.gauge("agentguard_runs_in_progress") == 2.0
    clock.advance(60)
    store.heartbeat("a", clock.time())
    assert store.gauge("agentguard_runs_in_progress") == 1.0  # b is silent: not live
    clock.advance(3600)
    store.heartbeat("a", clock.time())  # prunes: b is forgotten
    assert client.hget("{agentguard}:seq", "b") is None
    fields = client.hkeys("{agentguard}:gd:agentguard_runs_in_progress")
    assert [_text(f).endswith("\x1ea") for f in fields] == [True]


def test_a_worker_starts_while_redis_is_down_and_catches_up(redis_server: RedisServer) -> None:
    redis_server.kill()
    subscriber = RedisSubscriber.from_url(redis_server.url, interval_s=None)
    for _ in range(5):
        subscriber.record(LLMCallFinished(model="m", duration_s=0.1))
    assert not subscriber.flush(1.0)
    redis_server.start()
    assert subscriber.flush(2.0)
    assert subscriber.redis_store.counter(CALLS) == 5.0


def test_misuse_fails_at_once(client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisStore(client, prefix="{bad}")
    with pytest.raises(TypeError, match=r"redis\.Redis"):
        RedisStore(42)  # type: ignore[arg-type]  # the misuse under test
    with pytest.raises(ValueError, match="max_args"):
        RedisStore(client, max_args=3)
    with pytest.raises(ValueError, match="unknown metric"):
        RedisStore(client).counter("nope_total")


def test_deployments_on_one_redis_stay_apart(client: redis.Redis, clock: FakeClock) -> None:
    one, two = (RedisStore(client, prefix=p, clock=clock.time) for p in ("one", "two"))
    batch = DeltaBatch(
        process_id="w",
        sequence=1,
        sent_at_unix_s=clock.time(),
        counters={(CALLS, ("m", "ok", ""), int(clock.time())): 2.0},
    )
    one.apply(batch)
    two.apply(batch)  # the same process and sequence: another deployment, applied there too
    assert one.counter(CALLS) == two.counter(CALLS) == 2.0


def _child(url: str) -> None:
    """In a forked child: the inherited subscriber sends the child's events only."""
    subscriber = _INHERITED[0]
    subscriber.record(LLMCallFinished(model="child", duration_s=0.1))
    assert subscriber.close(5.0)


_INHERITED: list[RedisSubscriber] = []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_never_sends_its_parents_deltas(redis_server: RedisServer) -> None:
    subscriber = RedisSubscriber.from_url(redis_server.url, interval_s=None)
    _INHERITED[:] = [subscriber]
    for _ in range(3):
        subscriber.record(LLMCallFinished(model="parent", duration_s=0.1))
    child = multiprocessing.get_context("fork").Process(target=_child, args=(redis_server.url,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert subscriber.flush(2.0)
    store = subscriber.redis_store
    assert store.counter(CALLS, {"model": "parent"}) == 3.0
    assert store.counter(CALLS, {"model": "child"}) == 1.0
    assert store.counter(CALLS) == 4.0


def test_a_reader_never_serves_what_was_written_since(
    client: redis.Redis, clock: FakeClock
) -> None:
    """The reader keeps buckets it parsed; a write to one is read again, the others are not."""
    reader = RedisStore(client, clock=clock.time)
    writer = Aggregator(RedisStore(client, clock=clock.time), process_id="w", interval_s=None)
    t0 = clock.time()
    for minute in range(3):
        writer.record(
            LLMCallFinished(model="m", duration_s=1.0 + minute, at_unix_s=t0 + 60 * minute)
        )
    assert writer.flush(1.0)
    clock.advance(180)
    window = (t0, t0 + 180, 60)
    assert [b.value for b in reader.buckets(CALLS, None, *window)] == [1.0, 1.0, 1.0]
    assert reader.quantile("agentguard_llm_call_duration_seconds", 1.0, None, t0) == 3.0
    writer.record(LLMCallFinished(model="m", duration_s=9.0, at_unix_s=t0 + 60))
    assert writer.flush(1.0)
    assert [b.value for b in reader.buckets(CALLS, None, *window)] == [1.0, 2.0, 1.0]
    assert reader.quantile("agentguard_llm_call_duration_seconds", 1.0, None, t0) == 9.0
    assert reader.counters(CALLS, start=t0) == {("m", "ok", ""): 4.0}
    client.flushall()  # Redis lost everything: the reader must not answer from memory
    assert reader.counter(CALLS, start=t0) == 0.0
    writer.record(LLMCallFinished(model="m", duration_s=1.0, at_unix_s=t0))
    assert writer.flush(1.0)
    assert reader.counter(CALLS, start=t0) == 1.0


def test_a_service_reader_trusts_its_last_look_briefly(
    client: redis.Redis, clock: FakeClock
) -> None:
    looks = FakeClock(0.0)
    reader = RedisStore(client, clock=clock.time, read_staleness_s=0.25)
    reader._cache._clock = looks.time  # the cache's own monotonic clock, driven by the test
    writer = Aggregator(RedisStore(client, clock=clock.time), process_id="w", interval_s=None)
    t0 = clock.time()
    writer.record(call(clock))
    assert writer.flush(1.0)
    assert reader.counter(CALLS, start=t0) == 1.0
    writer.record(call(clock))
    assert writer.flush(1.0)
    assert reader.counter(CALLS, start=t0) == 1.0  # within a quarter of a second: not looked
    looks.advance(0.3)
    assert reader.counter(CALLS, start=t0) == 2.0


def test_the_cap_is_shared_by_every_worker_through_redis(
    client: redis.Redis, clock: FakeClock
) -> None:
    workers = [
        Aggregator(
            RedisStore(client, prefix="capped", clock=clock.time, max_label_values=4),
            process_id=f"w{i}",
            interval_s=None,
        )
        for i in range(3)
    ]
    for i, worker in enumerate(workers):  # 3 workers x 2 models of their own, in turn
        for m in range(2):
            worker.record(call(clock, model=f"w{i}-m{m}"))
        assert worker.flush(2.0)
    reader = RedisStore(client, prefix="capped", clock=clock.time)
    # the first 4 models any worker wrote keep their place; the third worker's fold
    assert {values[0] for values in reader.series(CALLS)} == {
        "w0-m0", "w0-m1", "w1-m0", "w1-m1", "other"
    }  # fmt: skip
    assert reader.counter(CALLS, {"model": "other"}) == 2.0
    assert reader.counter(CALLS) == 6.0
    dropped = reader.counter("agentguard_series_dropped_total", {"metric": CALLS})
    assert dropped == 2.0
    workers[0].record(call(clock, model="w0-m1"))  # an admitted model stays admitted
    assert workers[0].flush(2.0)
    assert reader.counter(CALLS, {"model": "w0-m1"}) == 2.0
