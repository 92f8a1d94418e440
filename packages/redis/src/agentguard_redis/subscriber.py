"""``RedisSubscriber``: the aggregator of a worker process, flushing into a :class:`RedisStore`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentguard_metrics import Aggregator
from agentguard_redis.store import DEFAULT_PREFIX, RedisStore

if TYPE_CHECKING:
    import redis
    from redis.cluster import RedisCluster

__all__ = ["RedisSubscriber"]


class RedisSubscriber(Aggregator):
    """An :class:`~agentguard_metrics.Aggregator` whose store is Redis.

    Everything of the aggregator holds: events become deltas in process, a background thread
    flushes them every ``interval_s`` as one batch that Redis applies once, a Redis outage
    keeps them (memory grows with series, not events) until Redis is back, and
    ``flush(timeout_s)`` / ``close(timeout_s)`` never wait longer than asked. The subscriber
    starts even when Redis cannot be reached.

    Args:
        store: The :class:`RedisStore`, or a redis-py client or Redis URL (any form of
            :func:`~agentguard_redis.connect`) to make one with ``prefix``.
        prefix: The key prefix, when ``store`` is not a :class:`RedisStore` already.
        **options: The :class:`~agentguard_metrics.Aggregator`'s options (``interval_s``,
            ``max_series``, ...).
    """

    def __init__(
        self,
        store: RedisStore | redis.Redis | RedisCluster | str,
        *,
        prefix: str = DEFAULT_PREFIX,
        **options: Any,
    ) -> None:
        if not isinstance(store, RedisStore):
            store = RedisStore(store, prefix=prefix)
        super().__init__(store, **options)
        self._redis_store = store

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX, **options: Any) -> RedisSubscriber:
        """A subscriber flushing to the Redis at ``url`` (nothing is sent until attached)."""
        return cls(RedisStore.from_url(url, prefix=prefix), **options)

    @property
    def redis_store(self) -> RedisStore:
        """The Redis store flushes go to."""
        return self._redis_store
