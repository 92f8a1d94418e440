"""agentguard-redis: the metrics of every worker, on every machine, added up in Redis once.

In every worker process::

    from agentguard_redis import RedisSubscriber

    RedisSubscriber.from_url("redis://metrics:6379/0").attach()  # the default bus

and once, anywhere: ``agentguard serve --redis redis://metrics:6379/0``, which reads the same
keys through :class:`RedisStore`. The URL may name any node of a Redis Cluster, a Sentinel
(``redis+sentinel://``), a TLS port (``rediss://``) or an ACL user: see :func:`connect`.
"""

from __future__ import annotations

from agentguard_redis._connect import connect, diagnose
from agentguard_redis.errors import (
    RedisCredentialsError,
    RedisSetupError,
    RedisUnavailableError,
    credentials_refused,
)
from agentguard_redis.store import DEFAULT_PREFIX, SERVICE_READ_STALENESS_S, RedisStore
from agentguard_redis.subscriber import RedisSubscriber

__all__ = [
    "DEFAULT_PREFIX",
    "SERVICE_READ_STALENESS_S",
    "RedisCredentialsError",
    "RedisSetupError",
    "RedisStore",
    "RedisSubscriber",
    "RedisUnavailableError",
    "connect",
    "credentials_refused",
    "diagnose",
]
