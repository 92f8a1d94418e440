"""Fixtures of the Redis store's tests: a real redis-server per test, stores on it.

The store contract of ``tests/metrics/store_contract.py`` runs here on :class:`RedisStore`,
each store of a test under a prefix of its own on the test's server: once with one shard (the
default on one server) and once with 4 shards on the one server, which readers merge.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from agentguard.testing import FakeClock
from agentguard_metrics import Store
from agentguard_redis import RedisStore, connect
from metrics.conftest import StoreFactory
from support.redis_server import RedisServer

if TYPE_CHECKING:
    import redis


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when told to (2026-01-01T00:00:00Z to start)."""
    return FakeClock()


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the test's redis-server, as the store makes them (short timeouts)."""
    made = connect(redis_server.url)
    yield made
    made.close()


@pytest.fixture(params=[None, 4], ids=["1-shard", "4-shards"])
def store_factory(
    client: redis.Redis, clock: FakeClock, request: pytest.FixtureRequest
) -> StoreFactory:
    """Makes fresh, empty stores: each a new prefix on the test's server."""
    numbers = itertools.count()
    shards: int | None = request.param
    return lambda **options: RedisStore(
        client, prefix=f"test{next(numbers)}", clock=clock.time, shards=shards, **options
    )


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    """A fresh, empty store."""
    return store_factory()
