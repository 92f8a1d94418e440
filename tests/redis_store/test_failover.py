"""Failover and faults: a master SIGKILLed mid-run loses nothing, a master stopped holds nothing.

3 masters with a replica each (``cluster-node-timeout`` 1 s), four worker processes
publishing through their shards; the master holding most of their shards is killed with
SIGKILL, its replica is promoted, and the totals are exact: a chunk counted as applied only
once a replica had it (``WAIT``), and a chunk sent again is skipped by its high-water mark,
which the replica holds with it. On one server with a replica, a chunk the replica has not
acknowledged is kept and sent again. A master frozen with SIGSTOP (a Cluster down): publishing
goes on, memory stays flat, and everything lands once the master resumes. While Redis stays
down, the background flushes back off.
"""

from __future__ import annotations

import itertools
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis

from agentguard import Bus
from agentguard.events import LLMCallFinished
from agentguard_metrics import DeltaBatch
from agentguard_redis import RedisStore, RedisSubscriber, connect
from agentguard_redis._keys import shard_of, shard_tags
from redis_store.test_cluster import owner
from redis_store.test_processes import Workers, check_totals
from support.redis_deployments import ClusterNodes, in_sync
from support.redis_server import RedisServer
from support.waiting import wait_until

CALLS = "agentguard_llm_calls_total"


@pytest.fixture
def replicated_cluster(tmp_path: Path) -> Iterator[ClusterNodes]:
    """3 masters (``servers[0:3]``), a replica each (``servers[3:6]``), failing over in ~2 s."""
    nodes = ClusterNodes(tmp_path / "ha", masters=3, replicas=1, node_timeout_ms=1000)
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


def shards_held(nodes: ClusterNodes, prefix: str) -> list[int]:
    """How many shards of ``prefix`` with a writer's high-water mark each master holds."""
    held = []
    for server in nodes.servers[: nodes.masters]:
        with redis.Redis(port=server.port) as client:
            held.append(sum(1 for _ in client.scan_iter(f"{{{prefix}*:seq", count=1000)))
    return held


@pytest.mark.slow
def test_a_master_killed_mid_run_loses_nothing_and_counts_nothing_twice(
    replicated_cluster: ClusterNodes,
) -> None:
    nodes = replicated_cluster
    prefix = f"f{uuid.uuid4().hex[:8]}"
    events = 1_200
    workers = Workers(nodes.urls[-1], prefix, events, pace_s=0.004)  # a replica's URL
    try:
        workers.wait_for_progress(0.3)
        held = shards_held(nodes, prefix)
        victim = held.index(max(held))
        assert held[victim] > 0
        nodes.servers[victim].kill()  # SIGKILL: what it had not sent its replica is gone
        wait_until(
            lambda: nodes.role(nodes.masters + victim) == "master",
            30,
            "the killed master's replica to be promoted",
            interval_s=0.1,
        )
        workers.finish()
    finally:
        workers.kill()
    assert any(workers.failed), workers.failed  # the workers on the killed master saw it fail
    store = RedisStore(nodes.urls[(victim + 1) % nodes.masters], prefix=prefix)
    try:
        check_totals(store, events)
    finally:
        store.client.close()


def close(store: RedisStore) -> None:
    """Close the store's connections (its client does not own its pool: it made it itself)."""
    client = cast("redis.Redis", store.client)  # one server here
    client.close()
    client.connection_pool.disconnect()


@pytest.fixture
def replica(tmp_path: Path, redis_server: RedisServer) -> Iterator[RedisServer]:
    """A replica of the test's redis-server."""
    server = RedisServer(
        tmp_path / "replica", extra_args=("--replicaof", redis_server.host, str(redis_server.port))
    )
    with redis.Redis(port=redis_server.port) as master:
        master.config_set("repl-diskless-sync-delay", 0)
        server.start()
    try:
        with redis.Redis(port=redis_server.port) as master:
            wait_until(lambda: in_sync(master) == 1, 10, "the replica to be in sync")
        yield server
    finally:
        server.kill()


def test_a_chunk_counts_once_a_replica_has_it(
    redis_server: RedisServer, replica: RedisServer
) -> None:
    store = RedisStore(redis_server.url, wait_ms=200)
    subscriber = RedisSubscriber(store, interval_s=None, process_id="w")
    subscriber.record(LLMCallFinished(model="claude-opus-4-8", duration_s=0.1))
    assert subscriber.flush(2.0)
    with redis.Redis(port=redis_server.port) as master:
        assert master.info("commandstats")["cmdstat_wait"]["calls"] >= 1  # pipelined with it
    replica.signal(signal.SIGSTOP)  # connected, never acknowledging
    try:
        subscriber.record(LLMCallFinished(model="claude-opus-4-8", duration_s=0.1))
        assert not subscriber.flush(2.0)  # applied on the master, not acknowledged: kept
        assert subscriber.failed_flushes == 1
    finally:
        replica.signal(signal.SIGCONT)
    assert subscriber.flush(2.0)  # sent again: skipped by the master, acknowledged now
    assert store.skipped_chunks == 1
    reader = RedisStore(connect(replica.url))  # reads are no-writes scripts: a replica answers
    wait_until(lambda: reader.counter(CALLS) == 2, 10, "the replica to hold both calls")
    close(reader)
    close(store)


def test_without_replicas_nothing_waits(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url)
    subscriber = RedisSubscriber(store, interval_s=None, process_id="w")
    for _ in range(3):
        subscriber.record(LLMCallFinished(model="claude-opus-4-8", duration_s=0.1))
        assert subscriber.flush(2.0)
    with redis.Redis(port=redis_server.port) as master:
        assert "cmdstat_wait" not in master.info("commandstats")
    assert store.counter(CALLS) == 3
    close(store)


@pytest.mark.slow
def test_a_master_stopped_never_holds_the_agent_and_everything_lands_once(
    tmp_path: Path,
) -> None:
    nodes = ClusterNodes(tmp_path / "stopped", node_timeout_ms=1000)
    nodes.start()
    try:
        prefix = f"s{uuid.uuid4().hex[:8]}"
        store = RedisStore(nodes.urls[0], prefix=prefix)
        subscriber = RedisSubscriber(store, interval_s=0.05, process_id="agent-1")
        bus = Bus()
        subscriber.attach(bus)
        at = time.time()
        bus.publish(LLMCallFinished(model="claude-opus-4-8", duration_s=0.1, at_unix_s=at))
        assert subscriber.flush(5.0)
        one_set = 0
        tag = shard_tags(prefix, store.shards)[shard_of("agent-1", store.shards)]
        victim = owner(nodes, tag[1:-1])  # the master of the subscriber's shard
        nodes.servers[victim].signal(signal.SIGSTOP)  # accepts connections, never answers
        held = []
        try:
            for _ in range(5):
                for i in range(2_000):
                    model = ("claude-opus-4-8", "claude-sonnet-4-6")[i % 2]
                    bus.publish(LLMCallFinished(model=model, duration_s=0.1, at_unix_s=at))
                held.append(subscriber.held_series)
            wait_until(lambda: subscriber.failed_flushes >= 3, 60, "flushes to fail")
            held.append(subscriber.held_series)
            one_set = held[0]
        finally:
            nodes.servers[victim].signal(signal.SIGCONT)
        # 10,000 calls published while every flush failed: what is held does not grow
        assert 0 < one_set < 100
        assert all(h <= 2 * one_set for h in held), (one_set, held)
        wait_until(lambda: subscriber.flush(2.0), 60, "the healed Cluster to take the batch")
        wait_until(  # every node, not only the writer's, must see the Cluster ok to read
            lambda: all(nodes.state(i) == "ok" for i in range(nodes.masters)),
            30,
            "every node to see the Cluster ok",
        )
        assert store.counter(CALLS) == 10_001
        assert store.counter(CALLS, {"model": "claude-sonnet-4-6"}) == 5_000
        assert subscriber.close(5.0)
        store.client.close()
    finally:
        nodes.stop()


class Attempts(RedisStore):
    """A store that notes when each ``apply`` is tried (monotonic seconds)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.tried: list[float] = []

    def apply(self, batch: DeltaBatch) -> None:
        """Note the attempt, then apply."""
        self.tried.append(time.monotonic())
        super().apply(batch)


def test_flushes_to_a_redis_that_is_down_back_off(unused_port: int) -> None:
    store = Attempts(f"redis://127.0.0.1:{unused_port}/0")  # refused at once, every time
    interval_s = 0.02
    subscriber = RedisSubscriber(store, interval_s=interval_s, process_id="w")
    bus = Bus()
    subscriber.attach(bus)
    bus.publish(LLMCallFinished(model="claude-opus-4-8", duration_s=0.1))
    wait_until(lambda: len(store.tried) >= 6, 30, "six attempts")
    subscriber.close(0.0)
    gaps = [b - a for a, b in itertools.pairwise(store.tried[:6])]
    # the k-th failure in a row waits at least half of 2**k intervals (at most 16 intervals)
    floors = [0.5 * interval_s * min(2**k, 16) for k in range(1, 6)]
    assert all(gap >= floor for gap, floor in zip(gaps, floors, strict=True)), gaps
    assert subscriber.held_series > 0  # kept for when Redis is back
    close(store)
