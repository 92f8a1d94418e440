"""The alert lease on a real redis-server (and a real Cluster): one holder, fencing, takeover.

Replicas are ``RedisLease`` objects with their own clients, as ``serve`` processes have; the
term is judged on a fake monotonic clock where the test is about the local term, and on
Redis's own expiry (waited on, never slept) where it is about takeover.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from agentguard.redisconnect import connect
from agentguard.testing import FakeClock
from agentguard_alerts import RedisLease, SoleLease
from support.redis_deployments import ClusterNodes
from support.redis_server import RedisServer
from support.waiting import wait_until

if TYPE_CHECKING:
    import redis


@pytest.fixture
def clients(redis_server: RedisServer) -> Iterator[list[redis.Redis]]:
    """Three clients of one server (three replicas)."""
    made = [connect(redis_server.url) for _ in range(3)]
    yield made
    for client in made:
        client.close()


def test_one_replica_holds_and_renews_the_others_wait(clients: list[redis.Redis]) -> None:
    leases = [RedisLease(c, ttl_s=30, replica=f"r{i}") for i, c in enumerate(clients)]
    assert [lease.acquire() for lease in leases] == [1, None, None]
    assert leases[0].acquire() == 1, "renewing keeps the token"
    state = leases[2].state()
    assert (state.holds, state.holder, state.fencing_token) == (False, "r0", 1)
    assert leases[0].state().as_dict() == {
        "holds_lease": True,
        "replica": "r0",
        "holder": "r0",
        "fencing_token": 1,
        "key": "{agentguard:alerts-lease}",
    }


def test_replicas_started_at_the_same_instant_get_one_holder(
    redis_server: RedisServer,
) -> None:
    leases = [RedisLease(connect(redis_server.url), ttl_s=30) for _ in range(8)]
    start = threading.Barrier(len(leases))
    got: list[int | None] = [None] * len(leases)

    def take(i: int) -> None:
        start.wait()
        got[i] = leases[i].acquire()

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(leases))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got, key=lambda t: t or 0) == [None] * 7 + [1]


def test_a_holder_that_stops_renewing_is_replaced_with_a_larger_token(
    clients: list[redis.Redis],
) -> None:
    first = RedisLease(clients[0], ttl_s=0.2, replica="first")
    second = RedisLease(clients[1], ttl_s=0.2, replica="second")
    assert first.acquire() == 1
    token = wait_until(second.acquire, 10, "the second replica taking the expired lease")
    assert token == 2
    assert first.acquire() is None, "the first replica learns it lost the lease"
    assert not first.valid(1)
    assert first.state().holder == "second"


def test_a_paused_holder_is_fenced_off_by_its_own_clock(clients: list[redis.Redis]) -> None:
    clock = FakeClock()
    lease = RedisLease(clients[0], ttl_s=5, replica="paused", monotonic=clock.monotonic)
    token = lease.acquire()
    assert token == 1
    assert lease.valid(1)
    assert not lease.valid(2), "another term's token is never valid"
    clock.advance(5)  # SIGSTOP for a whole term: no I/O needed to know
    assert not lease.valid(1)
    assert not lease.state().holds


def test_release_hands_the_lease_over_at_once(clients: list[redis.Redis]) -> None:
    first = RedisLease(clients[0], ttl_s=30, replica="first")
    second = RedisLease(clients[1], ttl_s=30, replica="second")
    assert first.acquire() == 1
    second.release()  # not the holder: nothing happens
    assert second.acquire() is None
    first.release()
    assert second.acquire() == 2
    first.release()  # no longer the holder: the holder's lease stays
    assert second.acquire() == 2


def test_only_the_holder_records_what_it_published(clients: list[redis.Redis]) -> None:
    first = RedisLease(clients[0], ttl_s=30, replica="first")
    second = RedisLease(clients[1], ttl_s=30, replica="second")
    assert first.acquire() == 1
    assert second.acquire() is None
    assert second.state().completed_unix_s is None
    first.completed(1, 1_767_225_600.5)
    second.completed(1, 1_767_225_999.0)  # not its lease: ignored
    first.completed(7, 1_767_225_999.0)  # not its token: ignored
    assert second.acquire() is None
    assert second.state().completed_unix_s == 1_767_225_600.5


def test_leases_of_other_names_are_independent(clients: list[redis.Redis]) -> None:
    one = RedisLease(clients[0], ttl_s=30, name="blue")
    other = RedisLease(clients[1], ttl_s=30, name="green")
    assert (one.acquire(), other.acquire()) == (1, 1)


def test_a_redis_outage_keeps_the_term_then_ends_it(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    client = connect(redis_server.url, socket_timeout=1, socket_connect_timeout=1)
    lease = RedisLease(client, ttl_s=10, monotonic=clock.monotonic)
    assert lease.acquire() == 1
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="agentguard_alerts"):
        assert lease.acquire() == 1, "within its term nobody else can hold it"
        clock.advance(10)
        assert lease.acquire() is None
    said = [r.getMessage() for r in caplog.records if "lease" in r.getMessage()]
    assert len(said) == 1, said  # once per episode
    client.close()


def test_bad_options_fail_at_once(clients: list[redis.Redis]) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        RedisLease(clients[0], ttl_s=0)
    with pytest.raises(ValueError, match="whitespace"):
        RedisLease(clients[0], ttl_s=1, replica="two words")


def test_the_sole_lease_is_always_held() -> None:
    lease = SoleLease("alone")
    assert lease.acquire() == 1
    assert lease.valid(1)
    assert lease.state().holder == "alone"


def test_the_lease_works_through_any_node_of_a_cluster(redis_cluster: ClusterNodes) -> None:
    clients = [connect(url) for url in redis_cluster.urls]
    try:
        leases = [RedisLease(c, ttl_s=30, name="lease-test") for c in clients]
        assert [lease.acquire() for lease in leases] == [1, None, None]
        assert leases[0].acquire() == 1
        leases[0].completed(1, 1_767_225_600.0)
        leases[0].release()
        assert leases[1].acquire() == 2, "a takeover on the Cluster"
        assert leases[1].state().completed_unix_s == 1_767_225_600.0
    finally:
        for client in clients:
            client.close()
