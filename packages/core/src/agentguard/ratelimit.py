"""``RateLimiter``: a token bucket per client, for the servers (metrics service, receiver).

It lives in the core because two server packages, which may not depend on each other, limit
their clients the same way; it needs nothing beyond the standard library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter"]

_MAX_CLIENTS = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_s: float


class RateLimiter:
    """Allows ``rate_per_s`` requests a second per client, in bursts of up to ``burst``.

    Only the event loop's thread calls it, so it takes no lock. At most ``_MAX_CLIENTS``
    clients are remembered: when full, the buckets that have refilled are forgotten first.
    """

    def __init__(self, rate_per_s: float, burst: float, clock: Callable[[], float]) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate_limit_per_s must be > 0 or None, got {rate_per_s!r}")
        if not burst >= 1:
            raise ValueError(f"rate_limit_burst must be >= 1, got {burst!r}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, client: str) -> float:
        """Take a token for ``client``: 0.0 when allowed, else the seconds until one is due."""
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= _MAX_CLIENTS:
                self._forget_full(now)
            bucket = self._buckets[client] = _Bucket(self.burst, now)
        else:
            elapsed = max(0.0, now - bucket.updated_s)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate_per_s)
            bucket.updated_s = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate_per_s

    def _forget_full(self, now: float) -> None:
        full = [
            client
            for client, b in self._buckets.items()
            if b.tokens + (now - b.updated_s) * self.rate_per_s >= self.burst
        ]
        for client in full or list(self._buckets)[: _MAX_CLIENTS // 10]:
            del self._buckets[client]
