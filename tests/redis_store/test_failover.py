"""Failover of a Redis Cluster with replicas: a master SIGKILLed mid-run loses nothing.

3 masters with a replica each (``cluster-node-timeout`` 1 s), four worker processes
publishing through their shards; the master holding most of their shards is killed with
SIGKILL, its replica is promoted, and the totals are exact: a chunk counted as applied only
once a replica had it (``WAIT``), and a chunk sent again is skipped by its high-water mark,
which the replica holds with it.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis

from agentguard.events import LLMCallFinished
from agentguard_redis import RedisStore, RedisSubscriber, connect
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
