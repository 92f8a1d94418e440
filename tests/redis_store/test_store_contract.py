"""The store contract that every store passes, on a real redis-server."""

from __future__ import annotations

from metrics.store_contract import StoreContract


class TestRedisStoreContract(StoreContract):
    """Runs :class:`StoreContract` on :class:`agentguard_redis.RedisStore`."""
