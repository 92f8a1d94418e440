"""A batch of deltas compiled into chunks of operations for the ``APPLY`` script.

Every delta is written at each roll-up of :data:`agentguard_metrics.ROLLUPS` (counters add,
sketch counts add, so a coarse bucket is exactly the sum of its fine ones) and to the metric's
total (label JSON ``[]``), so a read without a label filter takes one field or one hash per
bucket. Each key written gets its TTL once per chunk; each bucket index is pruned of buckets
past retention once per chunk.

A chunk holds at most ``max_args`` arguments and is applied atomically on its own; a batch's
chunks are the same every time the same batch is compiled (dictionaries keep their order), so
a batch sent again skips exactly the chunks already applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agentguard_metrics.storekit import ROLLUPS, DeltaBatch, Rollup, Sketch, bucket_start
from agentguard_redis._keys import GAUGE_SEP, TOTAL_LABELS, Keys, encode_labels
from agentguard_redis._scripts import OPS

__all__ = ["Chunk", "compile_batch"]

_INC_FLOAT, _INC_INT, _MIN, _MAX = OPS["inc_float"], OPS["inc_int"], OPS["min"], OPS["max"]
_EXPIRE, _ZADD, _ZPRUNE = OPS["expire"], OPS["zadd"], OPS["zprune"]
_SADD, _SET_LATEST = OPS["sadd"], OPS["set_latest"]
_SLACK_S = 60
"""Keys live this much past their retention, so a read at the edge never sees half a bucket."""


@dataclass
class Chunk:
    """One call of the ``APPLY`` script: keys (after ``seq``, ``hb``, ``meta``) and operations."""

    now: float
    """The store's clock when the batch was compiled: TTLs count from it."""
    keys: list[str] = field(default_factory=list)
    """The keys the operations name, by their index in KEYS (which starts at 3)."""
    args: list[str | int | float] = field(default_factory=list)
    """The operations, flat."""
    _index: dict[str, int] = field(default_factory=dict)
    _expiring: set[str] = field(default_factory=set)
    _pruned: set[str] = field(default_factory=set)

    def key(self, name: str) -> int:
        """The KEYS index of ``name`` in this chunk (after the script's three fixed keys)."""
        found = self._index.get(name)
        if found is None:
            self.keys.append(name)
            found = self._index[name] = len(self.keys) + 3
        return found

    def op(self, code: str, key: str, *args: str | int | float) -> None:
        """Add one operation on ``key``."""
        self.args += (code, self.key(key), *args)

    def expire(self, key: str, at_unix_s: int | None) -> None:
        """Make ``key`` expire at ``at_unix_s`` by the store's clock, once per chunk.

        ``None`` keeps it for ever. The TTL is relative (``EXPIRE``), so a store whose clock
        is not the server's (an injected one) still keeps data as long as its clock says.
        """
        if at_unix_s is not None and key not in self._expiring:
            self._expiring.add(key)
            self.op(_EXPIRE, key, max(1, math.ceil(at_unix_s - self.now)))

    def indexed(self, keys: Keys, rollup: Rollup, metric: str, bucket: int, now: float) -> None:
        """Record that ``bucket`` holds data and changed; prune expired buckets, once."""
        res = rollup.resolution_s
        index, changes = keys.index(res, metric), keys.changes(res, metric)
        self.args += (_ZADD, self.key(index), self.key(changes), bucket)
        if rollup.retention_s is not None and index not in self._pruned:
            self._pruned.add(index)
            cutoff = int(now) - rollup.retention_s - res
            self.args += (_ZPRUNE, self.key(index), self.key(changes), cutoff)


def _expiry(rollup: Rollup, bucket: int) -> int | None:
    if rollup.retention_s is None:
        return None
    return bucket + rollup.resolution_s + rollup.retention_s + _SLACK_S


def _format(value: float) -> str:
    """A float as Redis parses it (shortest round trip; ints without a fraction)."""
    return repr(float(value))


def _sketch(chunk: Chunk, key: str, sketch: Sketch, expire_at: int | None) -> None:
    chunk.op(_INC_INT, key, "#n", sketch.count)
    chunk.op(_INC_FLOAT, key, "#s", _format(sketch.sum))
    chunk.op(_MIN, key, "#lo", _format(sketch.min))
    chunk.op(_MAX, key, "#hi", _format(sketch.max))
    if sketch.zero_count:
        chunk.op(_INC_INT, key, "#z", sketch.zero_count)
    for bucket_key, n in sketch.positive.items():
        chunk.op(_INC_INT, key, f"p{bucket_key}", n)
    for bucket_key, n in sketch.negative.items():
        chunk.op(_INC_INT, key, f"m{bucket_key}", n)
    chunk.expire(key, expire_at)


def compile_batch(batch: DeltaBatch, keys: Keys, now: float, max_args: int = 40_000) -> list[Chunk]:
    """The chunks that apply ``batch``; a new chunk starts past ``max_args`` arguments.

    A delta's operations never straddle two chunks.
    """
    chunks = [Chunk(now)]

    def current() -> Chunk:
        if len(chunks[-1].args) >= max_args:
            chunks.append(Chunk(now))
        return chunks[-1]

    oldest = min((at for _, _, at in (*batch.counters, *batch.histograms)), default=None)
    if oldest is not None:
        chunks[0].op(_MIN, keys.meta, "oldest", oldest)
    for (name, values, at), amount in batch.counters.items():
        labels, text, chunk = encode_labels(values), _format(amount), current()
        chunk.op(_SADD, keys.series(name), labels)
        for rollup in ROLLUPS:
            b = bucket_start(at, rollup.resolution_s)
            key = keys.counter(rollup.resolution_s, b, name)
            chunk.op(_INC_FLOAT, key, labels, text)
            chunk.op(_INC_FLOAT, key, TOTAL_LABELS, text)
            chunk.expire(key, _expiry(rollup, b))
            chunk.indexed(keys, rollup, name, b, now)
    for (name, values, at), sketch in batch.histograms.items():
        labels, chunk = encode_labels(values), current()
        chunk.op(_SADD, keys.series(name), labels)
        for rollup in ROLLUPS:
            b = bucket_start(at, rollup.resolution_s)
            expire_at = _expiry(rollup, b)
            members = keys.sketch_series(rollup.resolution_s, b, name)
            chunk.op(_SADD, members, labels)
            chunk.expire(members, expire_at)
            for series in (labels, TOTAL_LABELS):
                _sketch(chunk, keys.sketch(rollup.resolution_s, b, name, series), sketch, expire_at)
            chunk.indexed(keys, rollup, name, b, now)
    for (name, values), delta in batch.gauge_deltas.items():
        labels, chunk = encode_labels(values), current()
        chunk.op(_SADD, keys.series(name), labels)
        field_ = f"{labels}{GAUGE_SEP}{batch.process_id}"
        chunk.op(_INC_FLOAT, keys.gauge_deltas(name), field_, _format(delta))
    for (name, values), setting in batch.gauge_sets.items():
        labels, chunk = encode_labels(values), current()
        chunk.op(_SADD, keys.series(name), labels)
        value, at_text = _format(setting.value), _format(setting.at_unix_s)
        chunk.op(_SET_LATEST, keys.gauge_sets(name), labels, value, at_text)
    return chunks
