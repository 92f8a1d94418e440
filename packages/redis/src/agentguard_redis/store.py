"""``RedisStore``: the metrics of every process, on every machine, added up in one Redis.

It is a :class:`agentguard_metrics.Store` (the same contract suite runs on it and on the
memory store). Writes come from each process's aggregator as one batch per flush; a batch is
compiled into chunks of operations that one Lua script applies atomically and once (see
:mod:`agentguard_redis._scripts`): a batch sent again after a lost reply, even partly applied,
changes nothing twice. The key layout is in :mod:`agentguard_redis._keys`.

Every call has explicit, short timeouts and redis-py's own retries are off: a failed
``apply`` raises, and the aggregator keeps the batch and sends it again, with the same
sequence, on its next flush. The scripts are loaded by ``EVALSHA`` and reloaded after
``NOSCRIPT`` (a restarted or flushed server).

Reads take one pipelined round trip per step of the work (find the buckets, then read them),
and read the metric's total alone when no label filter is given.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from agentguard.metricmap import RULES
from agentguard_metrics import (
    DEFAULT_RELATIVE_ACCURACY,
    ROLLUPS,
    Bucket,
    DeltaBatch,
    Sketch,
    bucket_start,
    is_histogram,
    label_names,
    matcher,
    matches,
    rollup_for,
)
from agentguard_redis._keys import (
    GAUGE_SEP,
    TOTAL_LABELS,
    Keys,
    decode_labels,
)
from agentguard_redis._ops import compile_batch
from agentguard_redis._scripts import APPLY, PRUNE

__all__ = ["DEFAULT_PREFIX", "RedisStore", "connect"]

DEFAULT_PREFIX: Final = "agentguard"
"""The prefix (and hash tag) of every key, unless told otherwise."""

_GAUGES_WITH_DELTAS: Final = tuple(
    sorted(
        {
            rule.metric.name
            for rules in RULES.values()
            for rule in rules
            if rule.metric.type == "gauge" and rule.op in ("inc", "dec")
        }
    )
)
"""The gauges moved by ``inc``/``dec``: their per-process contributions are pruned."""
_PRUNE_EVERY_S: Final = 60.0
_Labels = tuple[str, ...]


def connect(
    url: str, *, socket_timeout_s: float = 1.0, connect_timeout_s: float = 0.5
) -> redis.Redis:
    """A client for ``url`` with explicit timeouts and without redis-py's own retries.

    Timeouts bound how long a hung server can hold a flush; retries are the aggregator's
    (it resends the same batch, which the store applies once), never the client's.
    """
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=connect_timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _number(value: Any) -> float:
    return float(_text(value))


class RedisStore:
    """A :class:`~agentguard_metrics.Store` in Redis, shared by every process that uses it.

    Args:
        client: A redis-py client, or a ``redis://`` URL (a client with short timeouts and no
            retries is made for it by :func:`connect`).
        prefix: The prefix and hash tag of every key: deployments sharing a Redis use
            different prefixes.
        clock: Unix time now, for liveness, retention and pruning.
        liveness_s: A process's ``inc``/``dec`` gauge contributions count while its latest
            heartbeat (or batch) is at most this old.
        forget_processes_s: A process silent this long is forgotten: its heartbeat, its
            sequence mark and its gauge contributions (a batch it sent later would count
            again).
        max_args: Arguments per script call; a larger batch is applied in several chunks
            (each atomic, each once), so Redis is never blocked by one huge script.
        relative_accuracy: Of the sketches the aggregators send (their ``relative_accuracy``);
            every writer of one prefix must use the same.
    """

    def __init__(
        self,
        client: redis.Redis | str,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.time,
        liveness_s: float = 30.0,
        forget_processes_s: float = 24 * 3600.0,
        max_args: int = 40_000,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
    ) -> None:
        if not liveness_s > 0:
            raise ValueError(f"liveness_s must be > 0, got {liveness_s!r}")
        if not forget_processes_s > 0:
            raise ValueError(f"forget_processes_s must be > 0, got {forget_processes_s!r}")
        if max_args < 100:
            raise ValueError(f"max_args must be at least 100, got {max_args!r}")
        if isinstance(client, str):
            client = connect(client)
        elif not isinstance(client, redis.Redis):
            raise TypeError(f"client must be a redis.Redis or a redis:// URL, got {client!r}")
        self._client = client
        self._keys = Keys(prefix)
        self._clock = clock
        self._liveness_s = liveness_s
        self._forget_s = max(forget_processes_s, liveness_s)
        self._max_args = max_args
        self._accuracy = relative_accuracy
        self._apply = client.register_script(APPLY)
        self._prune = client.register_script(PRUNE)
        self._pruned_at = -math.inf
        self._prune_lock = threading.Lock()
        self._skipped = 0

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        socket_timeout_s: float = 1.0,
        connect_timeout_s: float = 0.5,
        **options: Any,
    ) -> RedisStore:
        """A store on ``url`` (``redis://``, ``rediss://`` or ``unix://``); see the class."""
        client = connect(
            url, socket_timeout_s=socket_timeout_s, connect_timeout_s=connect_timeout_s
        )
        return cls(client, **options)

    @property
    def client(self) -> redis.Redis:
        """The redis-py client."""
        return self._client

    @property
    def skipped_chunks(self) -> int:
        """Chunks sent again that Redis had applied already (their reply had been lost)."""
        return self._skipped

    @property
    def prefix(self) -> str:
        """The prefix of every key."""
        return self._keys.tag[1:-1]

    # --- writes ---------------------------------------------------------------------------

    def apply(self, batch: DeltaBatch) -> None:
        """Apply ``batch`` once: chunk by chunk, each skipped if its process applied it already.

        Raises:
            redis.RedisError: Redis did not answer or refused (the caller keeps the batch and
                sends it again; the chunks already applied are skipped then).
        """
        now = self._clock()
        head = [self._keys.seq, self._keys.hb]
        pid, sequence, beat = batch.process_id, str(batch.sequence), repr(batch.sent_at_unix_s)
        for number, chunk in enumerate(compile_batch(batch, self._keys, now, self._max_args)):
            applied = self._apply(
                keys=[*head, *chunk.keys], args=[pid, sequence, number, beat, *chunk.args]
            )
            if not applied:
                self._skipped += 1
        self._maybe_prune(now)

    def heartbeat(self, process_id: str, at_unix_s: float) -> None:
        """Record that ``process_id`` was alive at ``at_unix_s`` (the latest time wins)."""
        self._client.zadd(self._keys.hb, {process_id: at_unix_s}, gt=True)
        self._maybe_prune(self._clock())

    def _maybe_prune(self, now: float) -> None:
        with self._prune_lock:
            if now - self._pruned_at < _PRUNE_EVERY_S:
                return
            self._pruned_at = now
        gauges = [self._keys.gauge_deltas(name) for name in _GAUGES_WITH_DELTAS]
        self._prune(
            keys=[self._keys.seq, self._keys.hb, *gauges],
            args=[repr(now - self._forget_s), GAUGE_SEP],
        )

    # --- reads ----------------------------------------------------------------------------

    def counter(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> float:
        """The sum of counter ``name`` over the matching series and ``start <= t < end``."""
        wanted = matcher(name, labels)
        res, buckets = self._buckets(name, start, end)
        keys = [self._keys.counter(res, b, name) for b in buckets]
        if not wanted:
            return sum(_number(v) for v in self._each("hget", keys, TOTAL_LABELS) if v is not None)
        total = 0.0
        for fields in self._each("hgetall", keys):
            total += _sum_matching(fields, wanted)
        return total

    def histogram(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> Sketch:
        """The merged sketch of histogram ``name`` over the matching series and time range."""
        wanted = matcher(name, labels)
        res, buckets = self._buckets(name, start, end)
        merged = Sketch(self._accuracy)
        for _, _, sketch in self._sketches(name, res, buckets, wanted):
            merged.merge(sketch)
        return merged

    def quantile(
        self,
        name: str,
        q: float,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> float | None:
        """The ``q`` quantile of histogram ``name`` (``None`` when empty)."""
        return self.histogram(name, labels, start, end).quantile(q)

    def gauge(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """Live processes' ``inc``/``dec`` contributions plus the latest values set."""
        wanted = matcher(name, labels)
        return sum(v for values, v in self.gauges(name).items() if matches(values, wanted))

    def gauges(self, name: str) -> dict[_Labels, float]:
        """Gauge ``name`` now, per series."""
        label_names(name)
        live_since = self._clock() - self._liveness_s
        with self._client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._keys.gauge_deltas(name))
            pipe.hgetall(self._keys.gauge_sets(name))
            pipe.zrangebyscore(self._keys.hb, live_since, "+inf")
            deltas, sets, live = pipe.execute()
        alive = {_text(p) for p in live}
        found: dict[_Labels, float] = {}
        for raw, value in cast("dict[bytes, bytes]", deltas).items():
            labels, _, pid = _text(raw).partition(GAUGE_SEP)
            values = decode_labels(labels)
            found[values] = found.get(values, 0.0) + (_number(value) if pid in alive else 0.0)
        for raw, value in cast("dict[bytes, bytes]", sets).items():
            values = decode_labels(_text(raw))
            found[values] = found.get(values, 0.0) + float(_text(value).split(" ")[0])
        return found

    def series(self, name: str) -> list[_Labels]:
        """Every label-value tuple metric ``name`` has had."""
        label_names(name)
        members = cast("set[bytes]", self._client.smembers(self._keys.series(name)))
        return sorted(decode_labels(_text(m)) for m in members)

    def counters(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> dict[_Labels, float]:
        """Counter ``name`` over ``start <= t < end``, per series."""
        label_names(name)
        res, buckets = self._buckets(name, start, end)
        found: dict[_Labels, float] = {}
        for fields in self._each("hgetall", [self._keys.counter(res, b, name) for b in buckets]):
            for raw, value in fields.items():
                text = _text(raw)
                if text != TOTAL_LABELS:
                    values = decode_labels(text)
                    found[values] = found.get(values, 0.0) + _number(value)
        return found

    def histograms(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> dict[_Labels, Sketch]:
        """Histogram ``name`` over ``start <= t < end``, per series."""
        label_names(name)
        res, buckets = self._buckets(name, start, end)
        found: dict[_Labels, Sketch] = {}
        for values, _, sketch in self._sketches(name, res, buckets, None):
            held = found.get(values)
            if held is None:
                found[values] = sketch
            else:
                held.merge(sketch)
        return found

    def buckets(
        self,
        name: str,
        labels: Mapping[str, str] | None,
        start: float,
        end: float,
        step_s: int,
    ) -> list[Bucket]:
        """Counter increases or histogram sketches per step of ``step_s`` seconds."""
        if step_s <= 0:
            raise ValueError(f"step_s must be > 0, got {step_s!r}")
        wanted = matcher(name, labels)
        rollup = rollup_for(start, self._clock(), step_s)
        res = rollup.resolution_s
        first = bucket_start(start, step_s)
        steps = range(first, int(end) if end == int(end) else int(end) + 1, step_s)
        stored = self._indexed(name, res, first, steps.stop)
        if is_histogram(name):
            sketches: dict[int, Sketch] = {}
            for _, b, sketch in self._sketches(name, res, stored, wanted):
                s = bucket_start(b, step_s)
                held = sketches.get(s)
                if held is None:
                    sketches[s] = sketch
                else:
                    held.merge(sketch)
            return [
                Bucket(s, float(sk.count), sk)
                for s in steps
                for sk in [sketches.get(s) or Sketch(self._accuracy)]
            ]
        amounts = dict.fromkeys(steps, 0.0)
        keys = [self._keys.counter(res, b, name) for b in stored]
        if not wanted:
            for b, value in zip(stored, self._each("hget", keys, TOTAL_LABELS), strict=True):
                if value is not None:
                    amounts[bucket_start(b, step_s)] += _number(value)
        else:
            for b, fields in zip(stored, self._each("hgetall", keys), strict=True):
                amounts[bucket_start(b, step_s)] += _sum_matching(fields, wanted)
        return [Bucket(s, amounts[s]) for s in steps]

    # --- read mechanics -------------------------------------------------------------------

    def _buckets(self, name: str, start: float | None, end: float | None) -> tuple[int, list[int]]:
        """The roll-up to read ``[start, end)`` from, and its buckets that hold data there."""
        now = self._clock()
        if start is None:
            oldest = self._client.hget(self._keys.meta, "oldest")
            anchor = None if oldest is None else _number(oldest)
        else:
            anchor = start
        rollup = ROLLUPS[-1] if anchor is None else rollup_for(anchor, now)
        res = rollup.resolution_s
        lo = -math.inf if start is None else bucket_start(start, res)
        hi = math.inf if end is None else end
        return res, self._indexed(name, res, lo, hi)

    def _indexed(self, name: str, res: int, lo: float, hi: float) -> list[int]:
        """The buckets of roll-up ``res`` in ``lo <= b < hi`` that hold data of ``name``."""
        low = "-inf" if lo == -math.inf else repr(lo)
        high = "+inf" if hi == math.inf else f"({hi!r}"
        found = self._client.zrangebyscore(self._keys.index(res, name), low, high)
        return [int(_text(b)) for b in cast("list[bytes]", found)]

    def _each(self, command: str, keys: Sequence[str], *args: str) -> list[Any]:
        """``command(key, *args)`` for every key, pipelined in one round trip."""
        if not keys:
            return []
        with self._client.pipeline(transaction=False) as pipe:
            call = getattr(pipe, command)
            for key in keys:
                call(key, *args)
            return pipe.execute()

    def _sketches(
        self,
        name: str,
        res: int,
        buckets: Sequence[int],
        wanted: tuple[tuple[int, str], ...] | None,
    ) -> Iterable[tuple[_Labels, int, Sketch]]:
        """Sketches of ``name`` in ``buckets`` as ``(labels, bucket, sketch)``.

        The totals when ``wanted`` is ``()``, else every series matching ``wanted`` (every
        series when it is ``None``).
        """
        keys = self._keys
        if wanted == ():
            hashes = self._each(
                "hgetall", [keys.sketch(res, b, name, TOTAL_LABELS) for b in buckets]
            )
            for b, fields in zip(buckets, hashes, strict=True):
                if fields:
                    yield (), b, _parse_sketch(fields, self._accuracy)
            return
        members = self._each("smembers", [keys.sketch_series(res, b, name) for b in buckets])
        wanted_keys: list[tuple[_Labels, int, str]] = []
        for b, texts in zip(buckets, members, strict=True):
            for raw in texts:
                text = _text(raw)
                values = decode_labels(text)
                if wanted is None or matches(values, wanted):
                    wanted_keys.append((values, b, keys.sketch(res, b, name, text)))
        hashes = self._each("hgetall", [key for _, _, key in wanted_keys])
        for (values, b, _), fields in zip(wanted_keys, hashes, strict=True):
            if fields:
                yield values, b, _parse_sketch(fields, self._accuracy)

    def __repr__(self) -> str:
        return f"<RedisStore prefix={self.prefix!r} {self._client!r}>"


def _sum_matching(fields: Mapping[bytes, bytes], wanted: tuple[tuple[int, str], ...]) -> float:
    total = 0.0
    for raw, value in fields.items():
        text = _text(raw)
        if text != TOTAL_LABELS and matches(decode_labels(text), wanted):
            total += _number(value)
    return total


def _parse_sketch(fields: Mapping[bytes, bytes], relative_accuracy: float) -> Sketch:
    """A sketch from its hash (see :mod:`agentguard_redis._keys`)."""
    sketch = Sketch(relative_accuracy)
    for raw, value in fields.items():
        key = _text(raw)
        if key[0] == "p":
            sketch.positive[int(key[1:])] = int(value)
        elif key[0] == "m":
            sketch.negative[int(key[1:])] = int(value)
        elif key == "#n":
            sketch.count = int(value)
        elif key == "#s":
            sketch.sum = _number(value)
        elif key == "#lo":
            sketch.min = _number(value)
        elif key == "#hi":
            sketch.max = _number(value)
        elif key == "#z":
            sketch.zero_count = int(value)
    return sketch
