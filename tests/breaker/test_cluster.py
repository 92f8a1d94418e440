"""Breaker state shared through a real 3-master Redis Cluster, each breaker given another node."""

from __future__ import annotations

import uuid

import pytest

from agentguard.redisconnect import connect
from agentguard_breaker import CircuitBreaker, CircuitOpenError
from support.redis_deployments import ClusterNodes


def test_the_breaker_shares_its_state_through_any_node(redis_cluster: ClusterNodes) -> None:
    name = f"b{uuid.uuid4().hex[:8]}"
    one, other = (
        CircuitBreaker(name, fail_max=2, reset_timeout_s=60, redis=url, redis_retry_s=0.0)
        for url in redis_cluster.urls[:2]
    )
    for breaker in (one, other):  # one fault each: two across the processes' breakers
        with pytest.raises(TimeoutError), breaker:
            raise TimeoutError
    with pytest.raises(CircuitOpenError):
        one(lambda: None)()
    assert one.redis_fallbacks == other.redis_fallbacks == 0
    client = connect(redis_cluster.urls[2])
    assert client.hget(f"agentguard:breaker:{name}", "state") == b"open"
    client.close()
