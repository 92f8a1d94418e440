"""How the Redis store reads counter rows and sketches: parsed once, summed once a filter.

A counter bucket is one hash (every series' label JSON -> amount, ``[]`` the total), parsed
into a :class:`Row` that the reader's cache keeps; a row remembers what each filter summed
to, so the next query with the filter adds nothing up again. A sketch is one hash too
(:func:`parse_sketch`; the fields are in :mod:`agentguard_redis._keys`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import compress
from typing import Final, NamedTuple, TypeVar

from agentguard_metrics.storekit import Bucket, Sketch, bucket_start, matches
from agentguard_redis._keys import TOTAL_LABELS, decode_labels

__all__ = [
    "TOTAL",
    "Flat",
    "Grouper",
    "Matcher",
    "Row",
    "by_step",
    "counter_steps",
    "parse_sketch",
]

TOTAL: Final = TOTAL_LABELS.encode()
"""The field of a metric's total over every series."""
Flat = list[bytes]
"""A hash as HGETALL gives it: field, value, field, value, ..."""
_SUMS_PER_ROW: Final = 64
"""Filters a row remembers the sums of (the query uses a few dozen)."""


class Row(NamedTuple):
    """One bucket of a counter: the series' label JSON, their amounts, and the total's."""

    raws: tuple[bytes, ...]
    """The fields (label JSON, ``[]`` the total); buckets with the same fields share one
    tuple object, so a filter is matched once per set of fields, not once per bucket."""
    values: tuple[float, ...]
    """The amounts, in the order of ``raws``."""
    total: float
    """The amount of every series (the ``[]`` field), 0 when the bucket is empty."""
    sums: dict[tuple[tuple[int, str], ...], float]
    """The sum of the series matching each filter read so far (a row is cached and never
    changes, so the next query with the filter adds nothing up again)."""
    groups: dict[tuple[int, tuple[tuple[int, str], ...]], dict[str, float]]
    """The same per value of a label (``buckets_by``), by label position and filter."""


class Matcher:
    """Sums the series of rows that match a filter; a set of fields is matched once a read."""

    __slots__ = ("_masks", "_wanted")

    def __init__(self, wanted: tuple[tuple[int, str], ...]) -> None:
        self._wanted = wanted
        self._masks: dict[int, tuple[bool, ...]] = {}

    def _mask(self, raws: tuple[bytes, ...]) -> tuple[bool, ...]:
        mask = self._masks[id(raws)] = tuple(
            raw != TOTAL and matches(decode_labels(raw), self._wanted) for raw in raws
        )
        return mask

    def totals(self, rows: Sequence[Row]) -> list[float]:
        """The sum of the matching series of each row (one bucket each)."""
        wanted, masks, mask_of = self._wanted, self._masks, self._mask
        found: list[float] = []
        for row in rows:
            amount = row.sums.get(wanted)
            if amount is None:
                mask = masks.get(id(row.raws)) or mask_of(row.raws)
                amount = sum(compress(row.values, mask), 0.0)
                if len(row.sums) >= _SUMS_PER_ROW:
                    row.sums.clear()
                row.sums[wanted] = amount
            found.append(amount)
        return found


class Grouper:
    """Sums the series of rows that match a filter per value of one label, once a row."""

    __slots__ = ("_at", "_key", "_wanted")

    def __init__(self, wanted: tuple[tuple[int, str], ...], at: int) -> None:
        self._wanted = wanted
        self._at = at
        self._key = (at, wanted)

    def sums(self, rows: Sequence[Row]) -> list[dict[str, float]]:
        """Each row's (bucket's) amount per value of the label."""
        found: list[dict[str, float]] = []
        key, wanted, at = self._key, self._wanted, self._at
        for row in rows:
            held = row.groups.get(key)
            if held is None:
                held = {}
                for raw, amount in zip(row.raws, row.values, strict=True):
                    if raw == TOTAL:
                        continue
                    values = decode_labels(raw)
                    if not wanted or matches(values, wanted):
                        held[values[at]] = held.get(values[at], 0.0) + amount
                if len(row.groups) >= _SUMS_PER_ROW:
                    row.groups.clear()
                row.groups[key] = held
            found.append(held)
        return found


_K = TypeVar("_K")


def by_step(found: Iterable[tuple[_K, int, Sketch]], step_s: int) -> dict[_K, dict[int, Sketch]]:
    """Sketches ``(group, bucket, sketch)`` merged per group and step of ``step_s``.

    A step with one sketch keeps the cache's own (a Bucket's sketch is read-only); a second
    one in the step merges into a copy, never into the cache's.
    """
    out: dict[_K, dict[int, Sketch]] = {}
    merging: set[tuple[_K, int]] = set()
    for group, b, sketch in found:
        steps = out.setdefault(group, {})
        s = bucket_start(b, step_s)
        held = steps.get(s)
        if held is None:
            steps[s] = sketch
        elif (group, s) in merging:
            held.merge(sketch)
        else:
            merging.add((group, s))
            steps[s] = held.copy()
            steps[s].merge(sketch)
    return out


def counter_steps(found: Iterable[tuple[int, float]], steps: range) -> list[Bucket]:
    """Amounts ``(bucket, amount)`` added up per step of ``steps``."""
    amounts = dict.fromkeys(steps, 0.0)
    step_s = steps.step
    for b, amount in found:
        s = bucket_start(b, step_s)
        if s in amounts:
            amounts[s] += amount
    return list(map(Bucket, steps, map(amounts.__getitem__, steps)))


_P, _M = ord("p"), ord("m")


def parse_sketch(flat: Flat, relative_accuracy: float) -> Sketch:
    """A sketch from its hash, flat (see :mod:`agentguard_redis._keys` for the fields)."""
    sketch = Sketch(relative_accuracy)
    positive, negative = sketch.positive, sketch.negative
    for i in range(0, len(flat), 2):
        field_, value = flat[i], flat[i + 1]
        first = field_[0]
        if first == _P:
            positive[int(field_[1:])] = int(value)
        elif first == _M:
            negative[int(field_[1:])] = int(value)
        elif field_ == b"#n":
            sketch.count = int(value)
        elif field_ == b"#s":
            sketch.sum = float(value)
        elif field_ == b"#lo":
            sketch.min = float(value)
        elif field_ == b"#hi":
            sketch.max = float(value)
        elif field_ == b"#z":
            sketch.zero_count = int(value)
    return sketch
