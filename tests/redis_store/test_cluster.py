"""The store on a real 3-master Redis Cluster, reached through the URL of any node.

A deployment on a Cluster has 16 shards by default, spread over the masters, so every master
holds some and answers ``MOVED`` for the others: the URL of any node must work all the same
(detected, or said with ``redis+cluster://`` / ``?cluster=true``), across processes, for the
store and the subscriber (the breaker's shared state: tests/breaker/test_cluster.py). A
Cluster that leaves the slot uncovered is said in one line.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from agentguard import Bus
from agentguard.events import LLMCallFinished
from agentguard_metrics import Aggregator
from agentguard_redis import (
    RedisSetupError,
    RedisStore,
    RedisSubscriber,
    RedisUnavailableError,
)
from agentguard_redis._keys import shard_of
from support.metrics_worker import MODELS, expected
from support.redis_deployments import ClusterNodes
from support.waiting import wait_until

TESTS = Path(__file__).parents[1]
EVENTS = 300


def owner(nodes: ClusterNodes, prefix: str) -> int:
    """The index of the node that serves the slot of ``prefix``'s keys."""
    slot = key_slot(f"{{{prefix}}}".encode())
    with redis.Redis(port=nodes.servers[0].port) as client:
        for lo, hi, (_, port, *_rest), *_ in client.execute_command("CLUSTER", "SLOTS"):
            if lo <= slot <= hi:
                return next(i for i, s in enumerate(nodes.servers) if s.port == port)
    raise AssertionError(f"no node serves slot {slot}")


def a_prefix_not_on(nodes: ClusterNodes, node: int) -> str:
    """A fresh prefix whose slot another node than ``node`` serves."""
    while True:
        prefix = f"c{uuid.uuid4().hex[:8]}"
        if owner(nodes, prefix) != node:
            return prefix


def test_three_workers_each_given_another_node_add_up_exactly(
    redis_cluster: ClusterNodes,
) -> None:
    prefix = f"c{uuid.uuid4().hex[:8]}"
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "support.metrics_worker", url, prefix, str(w), str(EVENTS), "0"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=TESTS,
        )
        for w, url in enumerate(redis_cluster.urls)
    ]
    outputs = [worker.communicate(timeout=120)[0].splitlines() for worker in workers]
    assert [w.returncode for w in workers] == [0, 0, 0]
    for output in outputs:
        assert output[-2:] == ["failed 0 skipped 0", "done"], output[-5:]
    wanted = [expected(w, EVENTS) for w in range(3)]
    store = RedisStore(redis_cluster.urls[(owner(redis_cluster, prefix) + 1) % 3], prefix=prefix)
    try:
        calls = "agentguard_llm_calls_total"
        for model in MODELS:
            want = sum(w["llm_calls"][model] for w in wanted)  # type: ignore[index]  # a dict by expected()
            assert store.counter(calls, {"model": model}) == want
        assert store.counter(calls) == 3 * EVENTS
        assert store.counter("agentguard_tool_calls_total") == 3 * EVENTS
        tokens = store.counter("agentguard_llm_tokens_total", {"token_type": "input"})
        assert tokens == sum(w["input_tokens"] for w in wanted)  # type: ignore[misc]  # ints by expected()
        assert store.histogram("agentguard_llm_call_duration_seconds").count == 3 * EVENTS
        assert store.gauge("agentguard_runs_in_progress") == 0.0
    except BaseException:
        store.client.close()
        raise
    # a writer in every shard: the 16 shards of the prefix are spread over every master
    for shard in range(16):
        pid = next(f"w{i}" for i in itertools.count() if shard_of(f"w{i}", 16) == shard)
        aggregator = Aggregator(store, process_id=pid, interval_s=None)
        aggregator.record(LLMCallFinished(model="claude-opus-4-8", duration_s=0.1))
        assert aggregator.flush(5.0)
    assert store.counter(calls) == 3 * EVENTS + 16
    store.client.close()
    counts = []
    for server in redis_cluster.servers:
        with redis.Redis(port=server.port) as client:
            counts.append(sum(1 for _ in client.scan_iter(f"{{{prefix}*:seq", count=1000)))
    assert counts in ([6, 5, 5], [5, 6, 5], [5, 5, 6]), counts  # as many shards per master


@pytest.mark.parametrize("form", ["detected", "redis+cluster://", "?cluster=true"])
def test_every_form_of_a_cluster_url_reaches_the_slot_owner(
    redis_cluster: ClusterNodes, form: str
) -> None:
    node = 0
    prefix = a_prefix_not_on(redis_cluster, node)  # so a plain client would get MOVED
    url = redis_cluster.urls[node]
    if form == "redis+cluster://":
        url = url.replace("redis://", "redis+cluster://")
    elif form == "?cluster=true":
        url += "?cluster=true"
    subscriber = RedisSubscriber.from_url(url, prefix=prefix)
    bus = Bus()
    subscriber.attach(bus)
    for _ in range(5):
        bus.publish(LLMCallFinished(model="claude-opus-4-8", input_tokens=10, duration_s=0.1))
    assert subscriber.close(10.0)
    assert subscriber.failed_flushes == 0
    store = subscriber.redis_store
    store.check()
    assert store.counter("agentguard_llm_calls_total") == 5
    assert getattr(store.client, "cluster_client", None) is not None
    store.client.close()


def test_a_node_told_to_be_no_cluster_says_so_in_one_line(redis_cluster: ClusterNodes) -> None:
    prefix = a_prefix_not_on(redis_cluster, 0)
    store = RedisStore.from_url(redis_cluster.urls[0] + "?cluster=false", prefix=prefix)
    with pytest.raises(RedisSetupError, match=r"MOVED .*leave \?cluster=false out") as info:
        store.check()
    assert info.value.reason == "cluster"
    store.client.close()


@pytest.fixture
def half_cluster(tmp_path: Path) -> Iterator[ClusterNodes]:
    """A Cluster of 3 masters of which only 2 serve slots: a third of the slots uncovered."""
    nodes = ClusterNodes(tmp_path / "half")
    try:
        nodes.start(served=2)
        yield nodes
    finally:
        nodes.stop()


@pytest.mark.parametrize("form", ["detected", "redis+cluster://", "?cluster=false"])
def test_slots_not_covered_are_said_in_one_line(half_cluster: ClusterNodes, form: str) -> None:
    server = half_cluster.servers[0]
    prefix = next(
        p
        for p in (f"u{i}" for i in range(10_000))
        if key_slot(f"{{{p}}}".encode()) > 2 * 16384 // 3
    )
    url = {
        "detected": server.url,
        "redis+cluster://": server.url.replace("redis://", "redis+cluster://"),
        "?cluster=false": server.url + "?cluster=false",
    }[form]
    store = RedisStore.from_url(url, prefix=prefix)
    with pytest.raises(RedisUnavailableError) as info:
        store.check()
    assert info.value.reason == "slots"
    message = str(info.value)
    assert "\n" not in message
    assert "slot" in message
    assert "redis-cli --cluster check" in message
    assert isinstance(info.value, redis.ConnectionError)  # an outage to whoever retries
    store.client.close()


def test_a_cluster_down_is_said_in_one_line(tmp_path: Path) -> None:
    nodes = ClusterNodes(tmp_path / "down", node_timeout_ms=500)
    try:
        nodes.start()
        prefix = next(p for p in (f"d{i}" for i in range(10_000)) if owner(nodes, p) == 0)
        nodes.servers[2].kill()  # its slots are lost: the others declare the Cluster down
        wait_until(lambda: nodes.state(0) == "fail", 30, "the Cluster to see its master fail")
        store = RedisStore.from_url(nodes.urls[0], prefix=prefix)
        with pytest.raises(RedisUnavailableError) as info:
            store.check()
        assert info.value.reason == "cluster_down"
        assert str(info.value).startswith("the Redis Cluster is down (")
        assert "\n" not in str(info.value)
        store.client.close()
    finally:
        nodes.stop()
