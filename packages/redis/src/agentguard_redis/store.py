"""``RedisStore``: the metrics of every process, on every machine, added up in one Redis.

A :class:`agentguard_metrics.Store` (the same contract suite runs on it and on the memory
store). A batch is compiled into chunks of operations that one Lua script applies atomically
and once in the writer's shard (:mod:`agentguard_redis._scripts`, :mod:`._shards`); the key
layout is in :mod:`agentguard_redis._keys`. Reads ask every shard in one pipelined round trip
per step of the work and read the metric's total alone when no label filter is given.

The trap: redis-py's retries are off and timeouts short, so a failed ``apply`` raises; the
aggregator keeps the batch and sends it again with the same sequence.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Final, cast

import redis
from redis.cluster import RedisCluster

from agentguard.metricmap import METRICS
from agentguard_metrics.storekit import (
    DEFAULT_MAX_LABEL_VALUES,
    DEFAULT_RELATIVE_ACCURACY,
    FORGET_LABEL_VALUES_S,
    ROLLUPS,
    Bucket,
    DeltaBatch,
    DerivedReads,
    InvalidBatch,
    LabelFilter,
    LabelValue,
    Rollup,
    Sketch,
    batch_label_values,
    check_batch,
    check_max_label_values,
    fold_batch,
    is_histogram,
    label_names,
    matcher,
    matches,
    plan_range,
)
from agentguard_redis._cache import BucketCache, Versions
from agentguard_redis._connect import connect, diagnose
from agentguard_redis._keys import (
    GAUGE_SEP,
    TOTAL_LABELS,
    Keys,
    decode_labels,
    shard_of,
)
from agentguard_redis._ops import compile_batch
from agentguard_redis._rows import (
    TOTAL,
    Flat,
    Grouper,
    Matcher,
    Row,
    by_step,
    counter_steps,
    parse_sketch,
)
from agentguard_redis._scripts import ADMIT, CHANGES, PRUNE, READ_HASHES, READ_MEMBERS
from agentguard_redis._shards import Call, Router, split_url

__all__ = ["DEFAULT_PREFIX", "SERVICE_READ_STALENESS_S", "RedisStore", "connect"]

DEFAULT_PREFIX: Final = "agentguard"
"""The prefix (and hash tag) of every key, unless told otherwise."""

_GAUGES_WITH_DELTAS: Final = tuple(
    sorted(m.name for m in METRICS if m.type == "gauge" and not m.set_by_events)
)
"""The gauges moved by ``inc``/``dec``: their per-process contributions are pruned."""
SERVICE_READ_STALENESS_S: Final = 0.25
"""How far behind Redis the metrics service may read: writers flush once a second, so a
quarter of a second is within what a reader sees anyway, and it spares a round trip for every
metric of a query."""

_CONTENT_ERRORS: Final = ("agentguard: invalid chunk", "WRONGTYPE")
"""Errors of ``APPLY`` that say what the chunk holds or meets, not that Redis is unwell."""
_PRUNE_EVERY_S: Final = 60.0
_MAX_CANDIDATES: Final = 4096
"""A bounded range with at most this many buckets is read without asking the index first."""
_KEYS_PER_CALL: Final = 8192
_RECHECK_CAP_S: Final = 60.0
"""How long a writer trusts Redis's answer about a label value and the cap (see _refused)."""
_MAX_VERDICTS: Final = 100_000
_CHECKED_METRIC: Final = "agentguard_llm_calls_total"
_Labels = tuple[str, ...]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStore(DerivedReads):
    """A :class:`~agentguard_metrics.Store` in Redis, shared by every process that uses it.

    Args:
        client: A redis-py client (``RedisCluster`` too), or a Redis URL of any form
            :func:`connect` takes (it makes a client with short timeouts and no retries); the
            URL may carry ``?shards=``, ``?wait_replicas=`` and ``?wait_ms=``.
        prefix: The prefix of every key (and shard 0's hash tag): deployments sharing a
            Redis use different prefixes.
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
        max_cached: Parsed bucket values a reader keeps (see :mod:`agentguard_redis._cache`:
            only what the change log says was written since is read again).
        read_staleness_s: How long a reader trusts its last look at what changed (0: it
            looks on every read). The metrics service uses :data:`SERVICE_READ_STALENESS_S`.
        max_label_values: Values kept per label per metric across every process writing to
            this prefix; later ones are stored as ``other``, counted (the register is in
            Redis: see :mod:`agentguard_metrics.caps`). Every writer should use the same.
        shards: The number of shards (hash tags) of the deployment, registered in Redis by
            its first writer; ``None`` takes Redis's, else 16 on a Cluster and 1 on one
            server. A writer told another number than Redis holds is refused (one line).
        wait_replicas: With replicas, a chunk counts as applied once this many of them
            (at most as many as the master has) acknowledged it (``WAIT``); 0 never waits.
        wait_ms: How long ``WAIT`` waits; keep it below the client's socket timeout.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster | str,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.time,
        liveness_s: float = 30.0,
        forget_processes_s: float = 24 * 3600.0,
        max_args: int = 40_000,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
        max_cached: int = 500_000,
        read_staleness_s: float = 0.0,
        max_label_values: int = DEFAULT_MAX_LABEL_VALUES,
        shards: int | None = None,
        wait_replicas: int = 1,
        wait_ms: int = 500,
    ) -> None:
        if not liveness_s > 0:
            raise ValueError(f"liveness_s must be > 0, got {liveness_s!r}")
        if not forget_processes_s > 0:
            raise ValueError(f"forget_processes_s must be > 0, got {forget_processes_s!r}")
        self._max_label_values = check_max_label_values(max_label_values)
        if max_args < 100:
            raise ValueError(f"max_args must be at least 100, got {max_args!r}")
        if isinstance(client, str):
            url, options = split_url(client)
            shards = options.get("shards", shards)
            wait_replicas = options.get("wait_replicas", wait_replicas)
            wait_ms = options.get("wait_ms", wait_ms)
            client = connect(url)
        elif not isinstance(client, redis.Redis | RedisCluster):
            raise TypeError(
                f"client must be a redis.Redis, a redis.cluster.RedisCluster or a Redis URL, "
                f"got {client!r}"
            )
        self._client = client
        self._keys = Keys(prefix)
        self._router = Router(client, prefix, shards, wait_replicas, wait_ms)
        self._clock = clock
        self._liveness_s = liveness_s
        self._forget_s = max(forget_processes_s, liveness_s)
        self._max_args = max_args
        self._accuracy = relative_accuracy
        self._admit = client.register_script(ADMIT)
        self._prune = client.register_script(PRUNE)
        self._read_hashes = client.register_script(READ_HASHES)
        self._read_members = client.register_script(READ_MEMBERS)
        self._changes_script = client.register_script(CHANGES)
        if not read_staleness_s >= 0:
            raise ValueError(f"read_staleness_s must be >= 0, got {read_staleness_s!r}")
        self._cache = BucketCache(self._changes, max_cached, read_staleness_s)
        self._raws: dict[tuple[bytes, ...], tuple[bytes, ...]] = {}
        self._staleness_s = read_staleness_s
        self._series: dict[str, tuple[float, list[_Labels]]] = {}
        self._epoch = secrets.token_hex(8)
        self._pruned_at = -math.inf
        self._prune_lock = threading.Lock()
        self._skipped = 0
        self._verdicts: dict[LabelValue, tuple[bool, float]] = {}

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        socket_timeout_s: float = 1.0,
        connect_timeout_s: float = 0.5,
        **options: Any,
    ) -> RedisStore:
        """A store on ``url`` (any form of :func:`connect`, a Cluster node too); see the class.

        The URL's ``?shards=``, ``?wait_replicas=`` and ``?wait_ms=`` are the store's options.
        """
        url, from_url = split_url(url)
        client = connect(
            url, socket_timeout_s=socket_timeout_s, connect_timeout_s=connect_timeout_s
        )
        return cls(client, **{**options, **from_url})

    @property
    def client(self) -> redis.Redis | RedisCluster:
        """The redis-py client."""
        return self._client

    @property
    def skipped_chunks(self) -> int:
        """Chunks sent again that Redis had applied already (their reply had been lost)."""
        return self._skipped

    @property
    def prefix(self) -> str:
        """The prefix of every key."""
        return self._keys.prefix

    @property
    def shards(self) -> int:
        """The deployment's shards, as Redis holds them (1 before any writer wrote)."""
        return len(self._router.readable())

    def check(self) -> None:
        """Raise unless Redis answers this client and lets it read (a ping, a read script).

        Raises:
            RedisSetupError: the URL does not fit the server, which no retry mends:
                :class:`RedisCredentialsError` when Redis refused the login or a command
                (``WRONGPASS``, ``NOAUTH``, ``NOPERM``), TLS on one side only, or
                ``shards=`` other than the deployment's.
            RedisUnavailableError: an outage, said in one line (unreachable, Cluster down or
                slots not covered, no Sentinel knows the service); a ``redis.RedisError``.
            redis.RedisError: another failure of Redis.
        """
        try:
            self._client.ping()
            self._router.check()
            self._changes(ROLLUPS[0].resolution_s, _CHECKED_METRIC, ())
        except (redis.RedisError, OSError) as exc:
            raise diagnose(exc, self._client) from None

    # --- writes ---------------------------------------------------------------------------

    def apply(self, batch: DeltaBatch) -> None:
        """Apply ``batch`` once: chunk by chunk, each skipped if its process applied it already.

        Raises:
            InvalidBatch: the batch's content was refused, here (:func:`check_batch`, nothing
                written) or by Redis (a chunk the script refused before writing; a key of
                another type, written by something else, which may leave that chunk half
                written): sending it again cannot succeed, so the caller sets it aside.
            redis.RedisError: Redis did not answer or refused, or no replica acknowledged a
                chunk in time (the caller keeps the batch and sends it again; the chunks
                already applied are skipped then).
            RedisSetupError: this writer's ``shards`` differ from the deployment's.
        """
        check_batch(batch)
        shards = self._router.writable()
        now = self._clock()
        batch = fold_batch(batch, self._refused(batch, now))
        pid, sequence, beat = batch.process_id, str(batch.sequence), repr(batch.sent_at_unix_s)
        shard = shard_of(pid, len(shards))
        keys = shards[shard]
        head = [keys.seq, keys.hb, keys.meta]
        for number, chunk in enumerate(compile_batch(batch, keys, now, self._max_args)):
            try:
                applied = self._router.apply(
                    shard,
                    [*head, *chunk.keys],
                    [pid, sequence, number, beat, self._epoch, *chunk.args],
                )
            except redis.ResponseError as exc:
                if not str(exc).startswith(_CONTENT_ERRORS):
                    raise
                raise InvalidBatch(batch.batch_id, "chunk", f"{number}: {exc}") from exc
            if not applied:
                self._skipped += 1
        self._maybe_prune(now)

    def _refused(self, batch: DeltaBatch, now: float) -> set[LabelValue]:
        """The label values of ``batch`` past the cap.

        Redis is asked (one script call) about the values this store has not asked about
        within :data:`_RECHECK_CAP_S`; its answers are held that long. An answer changes
        only when a value is forgotten after a month unwritten, so holding it changes nothing
        but the cost of a flush.
        """
        checked = time.monotonic()
        verdicts = self._verdicts
        refused: set[LabelValue] = set()
        asked: dict[tuple[str, int], list[str]] = {}
        for (name, position), values in batch_label_values(batch).items():
            for value in values:
                held = verdicts.get((name, position, value))
                if held is None or checked - held[1] >= _RECHECK_CAP_S:
                    asked.setdefault((name, position), []).append(value)
                elif not held[0]:
                    refused.add((name, position, value))
        if not asked:
            return refused
        args: list[str | int] = [
            self._max_label_values,
            repr(now),
            repr(now - FORGET_LABEL_VALUES_S),
        ]
        for values in asked.values():
            args += (len(values), *values)
        keys = [self._keys.known_values(name, position) for name, position in asked]
        answers = iter(cast("list[int]", self._admit(keys=keys, args=args)))
        if len(verdicts) > _MAX_VERDICTS:
            verdicts.clear()
        for (name, position), values in asked.items():
            for value in values:
                admitted = bool(next(answers))
                verdicts[(name, position, value)] = (admitted, checked)
                if not admitted:
                    refused.add((name, position, value))
        return refused

    def heartbeat(self, process_id: str, at_unix_s: float) -> None:
        """Record that ``process_id`` was alive at ``at_unix_s`` (the latest time wins)."""
        shards = self._router.writable()
        keys = shards[shard_of(process_id, len(shards))]
        self._client.zadd(keys.hb, {process_id: at_unix_s}, gt=True)
        self._maybe_prune(self._clock())

    def _maybe_prune(self, now: float) -> None:
        """Forget silent processes in every shard (a shard may have lost all its writers).

        The layout is registered again with it: readers find it after Redis lost its data.
        """
        with self._prune_lock:
            if now - self._pruned_at < _PRUNE_EVERY_S:
                return
            self._pruned_at = now
        args = [repr(now - self._forget_s), GAUGE_SEP]
        self._router.run(
            [
                self._router.layout_call(),  # in the same round trip
                *(
                    (
                        self._prune,
                        [k.seq, k.hb, *(k.gauge_deltas(name) for name in _GAUGES_WITH_DELTAS)],
                        args,
                    )
                    for k in self._router.writable()
                ),
            ]
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
        rows = self._rows(name, start, end)
        if not wanted:
            return sum(row.total for row in rows)
        return sum(Matcher(wanted).totals(rows))

    def histogram(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> Sketch:
        """The merged sketch of histogram ``name`` over the matching series and time range."""
        wanted = matcher(name, labels)
        merged = Sketch(self._accuracy)
        for res, buckets in self._parts(name, start, end):
            for _, _, sketch in self._sketches(name, res, buckets, wanted):
                merged.merge(sketch)
        return merged

    def gauges(self, name: str) -> dict[_Labels, float]:
        """Gauge ``name`` now, per series."""
        label_names(name)
        live_since = self._clock() - self._liveness_s
        shards = self._router.readable()

        def build(pipe: Any) -> None:
            for k in shards:
                pipe.hgetall(k.gauge_deltas(name))
                pipe.hgetall(k.gauge_sets(name))
                pipe.zrangebyscore(k.hb, live_since, "+inf")

        replies = self._router.commands(build)
        found: dict[_Labels, float] = {}
        latest: dict[_Labels, tuple[float, float]] = {}
        for i in range(0, len(replies), 3):
            deltas, sets, live = replies[i : i + 3]
            alive = {_text(p) for p in live}
            for raw, value in cast("dict[bytes, bytes]", deltas).items():
                labels, _, pid = _text(raw).partition(GAUGE_SEP)
                values = decode_labels(labels)
                found[values] = found.get(values, 0.0) + (float(value) if pid in alive else 0.0)
            for raw, value in cast("dict[bytes, bytes]", sets).items():
                setting, _, at = _text(value).partition(" ")
                values = decode_labels(raw)
                held = latest.get(values)
                if held is None or float(at) >= held[0]:  # the latest setting of any shard
                    latest[values] = (float(at), float(setting))
        for values, (_, setting_) in latest.items():
            found[values] = found.get(values, 0.0) + setting_
        return found

    def series(self, name: str) -> list[_Labels]:
        """Every label-value tuple metric ``name`` has had (trusted ``read_staleness_s``)."""
        label_names(name)
        now = time.monotonic()
        held = self._series.get(name)
        if held is not None and now - held[0] < self._staleness_s:
            return list(held[1])
        shards = self._router.readable()
        replies = self._router.commands(
            lambda pipe: [pipe.smembers(k.series(name)) for k in shards]
        )
        found = sorted({decode_labels(m) for members in replies for m in members})
        self._series[name] = (now, found)
        return list(found)

    def counters(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> dict[_Labels, float]:
        """Counter ``name`` over ``start <= t < end``, per series."""
        label_names(name)
        # rows sharing a set of fields are added up column by column (in C), then by field
        by_fields: dict[int, tuple[tuple[bytes, ...], list[tuple[float, ...]]]] = {}
        for row in self._rows(name, start, end):
            by_fields.setdefault(id(row.raws), (row.raws, []))[1].append(row.values)
        sums: dict[bytes, float] = {}
        for raws, columns in by_fields.values():
            for raw, amount in zip(raws, map(sum, zip(*columns, strict=True)), strict=True):
                sums[raw] = sums.get(raw, 0.0) + amount
        sums.pop(TOTAL, None)
        return {decode_labels(raw): amount for raw, amount in sums.items()}

    def histograms(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> dict[_Labels, Sketch]:
        """Histogram ``name`` over ``start <= t < end``, per series."""
        label_names(name)
        found: dict[_Labels, Sketch] = {}
        for res, buckets in self._parts(name, start, end):
            for values, _, sketch in self._sketches(name, res, buckets, None):
                held = found.get(values)
                if held is None:
                    found[values] = sketch.copy()  # the store's own is never changed
                else:
                    held.merge(sketch)
        return found

    def now(self) -> float:
        """The store's clock."""
        return self._clock()

    def read_steps(
        self, name: str, wanted: LabelFilter, rollup: Rollup, steps: range
    ) -> list[Bucket]:
        """Counter increases or histogram sketches per step (see ``DerivedReads``)."""
        res = rollup.resolution_s
        stored = self._candidates(name, res, steps.start, steps.stop)
        if is_histogram(name):
            found = (
                (None, b, sketch) for _, b, sketch in self._sketches(name, res, stored, wanted)
            )
            return self._sketch_steps(by_step(found, steps.step).get(None, {}), steps)
        rows = self._counter_rows(res, name, stored)
        amounts = Matcher(wanted).totals(rows) if wanted else [row.total for row in rows]
        amounts = _per_bucket(amounts, len(rows) // max(1, len(stored)))
        if steps.step == res and len(stored) == len(steps) and stored[:1] == [steps.start]:
            return list(map(Bucket, steps, amounts))  # every step read, in order
        return counter_steps(zip(stored, amounts, strict=True), steps)

    def read_steps_by(
        self,
        name: str,
        wanted: LabelFilter,
        at: int,
        rollup: Rollup,
        steps: range,
        *,
        values: Collection[str] | None,
    ) -> dict[str, list[Bucket]]:
        """:meth:`read_steps` per value of label ``at`` (or ``values``): each bucket read once."""
        res = rollup.resolution_s
        stored = self._candidates(name, res, steps.start, steps.stop)
        if is_histogram(name):
            found = (
                (series[at], b, sketch)
                for series, b, sketch in self._sketches(name, res, stored, wanted or None)
                if values is None or series[at] in values
            )
            return {
                value: self._sketch_steps(by_start, steps)
                for value, by_start in by_step(found, steps.step).items()
            }
        rows = self._counter_rows(res, name, stored)
        per_value: dict[str, list[tuple[int, float]]] = {}
        sharded = len(rows) // max(1, len(stored))
        for b, sums in zip(
            stored, _merged_groups(Grouper(wanted, at).sums(rows), sharded), strict=True
        ):
            for value, amount in sums.items():
                if values is None or value in values:
                    per_value.setdefault(value, []).append((b, amount))
        return {value: counter_steps(found, steps) for value, found in per_value.items()}

    def _sketch_steps(self, by_start: Mapping[int, Sketch], steps: range) -> list[Bucket]:
        return [
            Bucket(s, float(sk.count), sk)
            for s in steps
            for sk in [by_start.get(s) or Sketch(self._accuracy)]
        ]

    # --- read mechanics -------------------------------------------------------------------

    def _parts(
        self, name: str, start: float | None, end: float | None
    ) -> list[tuple[int, list[int]]]:
        """The parts of a read of ``[start, end)``: each a resolution and its buckets to read.

        See ``plan_range``: whole coarse buckets where the range holds them, fine ones at
        the edges.
        """
        oldest: float | None = None
        if start is None:
            shards = self._router.readable()
            held = self._router.commands(lambda pipe: [pipe.hget(k.meta, "oldest") for k in shards])
            found = [float(cast("bytes", h)) for h in held if h is not None]
            oldest = min(found, default=None)
        return [
            (rollup.resolution_s, self._candidates(name, rollup.resolution_s, lo, hi))
            for rollup, lo, hi in plan_range(start, end, self._clock(), oldest)
        ]

    def _rows(self, name: str, start: float | None, end: float | None) -> list[Row]:
        """The counter rows of every part of a read of ``[start, end)``."""
        return [
            row
            for res, buckets in self._parts(name, start, end)
            for row in self._counter_rows(res, name, buckets)
        ]

    def _candidates(self, name: str, res: int, lo: float, hi: float) -> list[int]:
        """The buckets of roll-up ``res`` in ``lo <= b < hi`` to read.

        A bounded range of few buckets is every bucket in it (a missing one reads as empty),
        which saves asking the index first; otherwise the index's buckets that hold data.
        """
        if lo != -math.inf and hi != math.inf and (hi - lo) / res <= _MAX_CANDIDATES:
            first = int(lo)
            return list(range(first, math.ceil(hi), res))
        low = "-inf" if lo == -math.inf else repr(lo)
        high = "+inf" if hi == math.inf else f"({hi!r}"
        shards = self._router.readable()
        found = self._router.commands(
            lambda pipe: [pipe.zrangebyscore(k.index(res, name), low, high) for k in shards]
        )
        return sorted({int(b) for held in found for b in cast("list[bytes]", held)})

    def _many(self, script: Any, keys: Sequence[str]) -> list[Any]:
        """``script`` over ``keys``, the replies in order.

        Pipelined calls: one per shard and bounded number of keys.
        """
        by_tag: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            by_tag.setdefault(key[: key.index("}") + 1], []).append(i)
        calls: list[Call] = []
        places: list[list[int]] = []
        for at in by_tag.values():
            for i in range(0, len(at), _KEYS_PER_CALL):
                part = at[i : i + _KEYS_PER_CALL]
                calls.append((script, [keys[j] for j in part], ()))
                places.append(part)
        if len(places) == 1 and len(places[0]) == len(keys):
            return list(self._router.run(calls)[0])  # one shard: already in order
        found: list[Any] = [None] * len(keys)
        for part, replies in zip(places, self._router.run(calls), strict=True):
            for j, reply in zip(part, replies, strict=True):
                found[j] = reply
        return found

    def _hashes(self, keys: Sequence[str]) -> list[Flat]:
        """Each hash of ``keys``, flat (an empty list where missing)."""
        return self._many(self._read_hashes, keys)

    def _cached(
        self,
        res: int,
        name: str,
        wanted: Sequence[tuple[int, str]],
        fetch: Callable[[list[str]], list[Any]],
    ) -> list[Any]:
        """The parsed values of ``(bucket, key)`` pairs, through the reader's cache."""
        retention = next(r.retention_s for r in ROLLUPS if r.resolution_s == res)
        oldest = -math.inf if retention is None else self._clock() - retention - res
        return self._cache.read(res, name, wanted, fetch, oldest)

    def _changes(self, res: int, name: str, since: Versions) -> tuple[Versions, bytes, list[int]]:
        """Each shard's version, their epochs, and the buckets any wrote since ``since``."""
        shards = self._router.readable()
        replies = self._router.run(
            [
                (
                    self._changes_script,
                    [k.meta, k.changes(res, name)],
                    [since[i] if len(since) == len(shards) else -1],
                )
                for i, k in enumerate(shards)
            ]
        )
        versions = tuple(int(version) for version, _, _ in replies)
        epoch = b"/".join(bytes(epoch) for _, epoch, _ in replies)
        changed = sorted({int(b) for _, _, found in replies for b in found})
        return versions, epoch, changed

    def _counter_rows(self, res: int, name: str, buckets: Sequence[int]) -> list[Row]:
        """Each bucket's counter hash in each shard, as rows: bucket by bucket, one per shard."""
        shards = self._router.readable()
        per_shard = [k.counters(res, list(buckets), name) for k in shards]
        if len(shards) == 1:
            wanted = list(zip(buckets, per_shard[0], strict=True))
        else:
            wanted = [
                (b, key) for b, *keys in zip(buckets, *per_shard, strict=True) for key in keys
            ]
        return self._cached(res, name, wanted, self._fetch_rows)

    def _fetch_rows(self, keys: list[str]) -> list[Row]:
        rows = []
        for flat in self._hashes(keys):
            raws = tuple(flat[0::2])
            raws = self._raws.setdefault(raws, raws)  # one tuple per set of fields: see Matcher
            values = tuple(map(float, flat[1::2]))
            total = values[raws.index(TOTAL)] if TOTAL in raws else 0.0
            rows.append(Row(raws, values, total, {}, {}))
        if len(self._raws) > 10_000:
            self._raws.clear()
        return rows

    def _fetch_sketches(self, keys: list[str]) -> list[Sketch | None]:
        return [parse_sketch(flat, self._accuracy) if flat else None for flat in self._hashes(keys)]

    def _fetch_members(self, keys: list[str]) -> list[frozenset[bytes]]:
        return [frozenset(m) for m in self._many(self._read_members, keys)]

    def _sketches(
        self,
        name: str,
        res: int,
        buckets: Sequence[int],
        wanted: tuple[tuple[int, str], ...] | None,
    ) -> Iterable[tuple[_Labels, int, Sketch]]:
        """Sketches of ``name`` in ``buckets`` as ``(labels, bucket, sketch)``.

        The totals when ``wanted`` is ``()``, else every series matching ``wanted`` (every
        series when it is ``None``). The sketches are the cache's: never change them.
        """
        shards = self._router.readable()
        if wanted == ():
            pairs = [(b, k.sketch(res, b, name, TOTAL_LABELS)) for b in buckets for k in shards]
            sketches = self._cached(res, name, pairs, self._fetch_sketches)
            for (b, _), sketch in zip(pairs, sketches, strict=True):
                if sketch is not None:
                    yield (), b, sketch
            return
        sets = [(b, k, k.sketch_series(res, b, name)) for b in buckets for k in shards]
        members = self._cached(res, name, [(b, key) for b, _, key in sets], self._fetch_members)
        chosen: list[tuple[_Labels, int, str]] = []
        for (b, keys, _), raws in zip(sets, members, strict=True):
            for raw in raws:
                values = decode_labels(raw)
                if wanted is None or matches(values, wanted):
                    chosen.append((values, b, keys.sketch(res, b, name, raw.decode())))
        pairs = [(b, key) for _, b, key in chosen]
        sketches = self._cached(res, name, pairs, self._fetch_sketches)
        for (values, b, _), sketch in zip(chosen, sketches, strict=True):
            if sketch is not None:
                yield values, b, sketch

    def __repr__(self) -> str:
        return f"<RedisStore prefix={self.prefix!r} {self._client!r}>"


def _per_bucket(amounts: list[float], shards: int) -> list[float]:
    """The amounts of rows that are ``shards`` rows a bucket, added up per bucket."""
    if shards <= 1:
        return amounts
    return [sum(amounts[i : i + shards]) for i in range(0, len(amounts), shards)]


def _merged_groups(sums: list[dict[str, float]], shards: int) -> list[dict[str, float]]:
    """:func:`_per_bucket` for sums per label value."""
    if shards <= 1:
        return sums
    merged: list[dict[str, float]] = []
    for i in range(0, len(sums), shards):
        bucket: dict[str, float] = {}
        for part in sums[i : i + shards]:
            for value, amount in part.items():
                bucket[value] = bucket.get(value, 0.0) + amount
        merged.append(bucket)
    return merged
