"""What a reading ``RedisStore`` keeps of the buckets it read, and how it knows they changed.

A reader keeps the buckets it parsed, per roll-up and metric, with the ``version`` of each
shard it read them at; before reading a metric again it asks the shards' change logs
(``CHANGES``) which buckets were written since, forgets those and reads only what it lacks. A
new ``epoch`` or a lower version of any shard (a Redis that lost its data) forgets everything;
buckets past retention are forgotten, and past ``max_entries`` values a metric is dropped whole
and read again.

The trap: ``fresh_s`` above zero trusts a check for that long (a query reads dozens of metrics,
each check a round trip); the default, zero, checks on every read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["BucketCache", "Versions"]

_MISSING: Any = object()
Versions = tuple[int, ...]
"""The version of each shard (``()`` before the first look)."""


class _Metric:
    """The values of one roll-up of one metric: Redis key -> parsed value, and by bucket."""

    __slots__ = ("buckets", "checked_at", "epoch", "values", "version")

    def __init__(self) -> None:
        self.checked_at = -float("inf")
        self.version: Versions = ()
        self.epoch = b""
        self.values: dict[str, Any] = {}
        self.buckets: dict[int, list[str]] = {}


class BucketCache:
    """Parsed bucket values of one reader, kept while the change log says they hold.

    Args:
        changes: ``changes(res, metric, since) -> (versions, epoch, changed buckets)``, one
            round trip to Redis (``since`` the versions of a previous answer, or ``()``).
        max_entries: Values held at most over every metric.
        fresh_s: How long a check of a metric's changes is trusted (see the module).
        clock: Monotonic seconds, for ``fresh_s``.
    """

    def __init__(
        self,
        changes: Callable[[int, str, Versions], tuple[Versions, bytes, list[int]]],
        max_entries: int = 500_000,
        fresh_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._changes = changes
        self._max = max_entries
        self._fresh_s = fresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._metrics: dict[tuple[int, str], _Metric] = {}
        self._size = 0

    def read(
        self,
        res: int,
        metric: str,
        wanted: Sequence[tuple[int, str]],
        fetch: Callable[[list[str]], list[Any]],
        oldest: float,
    ) -> list[Any]:
        """The values of ``wanted`` (bucket, key) pairs, fetching only what is not held.

        ``fetch(keys)`` reads and parses keys from Redis, in order. ``oldest`` is the start
        of the roll-up's retention: held buckets before it are forgotten.
        """
        now = self._clock()
        with self._lock:
            held = self._metrics.get((res, metric))
            since: Versions = () if held is None else held.version
            fresh = held is not None and now - held.checked_at < self._fresh_s
        if fresh:
            assert held is not None
            version = held.version
        else:
            version, epoch, changed = self._changes(res, metric, since)
        with self._lock:
            held = self._metrics.setdefault((res, metric), _Metric())
            if not fresh:
                if held.epoch != epoch or _regressed(version, held.version):
                    self._forget(held, list(held.buckets))
                else:
                    self._forget(held, [b for b in changed if b in held.buckets])
                    self._forget(held, [b for b in held.buckets if b < oldest])
                held.version, held.epoch, held.checked_at = version, epoch, now
            values = held.values
            found = [values.get(key, _MISSING) for _, key in wanted]
        missing = [i for i, value in enumerate(found) if value is _MISSING]
        if not missing:
            return found
        fetched = fetch([wanted[i][1] for i in missing])
        with self._lock:
            held = self._metrics[(res, metric)]
            if held.version == version:  # nothing changed meanwhile under this reader
                if self._size + len(missing) > self._max:
                    self._forget(held, list(held.buckets))
                for i, value in zip(missing, fetched, strict=True):
                    bucket, key = wanted[i]
                    if key not in held.values:
                        held.buckets.setdefault(bucket, []).append(key)
                        self._size += 1
                    held.values[key] = value
        for i, value in zip(missing, fetched, strict=True):
            found[i] = value
        return found

    def _forget(self, held: _Metric, buckets: list[int]) -> None:
        for bucket in buckets:
            for key in held.buckets.pop(bucket, ()):
                del held.values[key]
                self._size -= 1

    @property
    def size(self) -> int:
        """Values held."""
        return self._size


def _regressed(version: Versions, held: Versions) -> bool:
    """Whether any shard's version went back (or the shards changed): forget everything."""
    return len(version) != len(held) or any(v < h for v, h in zip(version, held, strict=True))
