"""Mergeable histograms with bounded relative error: log-scaled buckets, as in DDSketch.

A :class:`Sketch` counts observed values per integer bucket key
(``ddsketch.mapping.LogarithmicMapping(relative_accuracy).key(v)``) plus their count, sum, min
and max; zero and values below ``mapping.min_possible`` go to :attr:`zero_count`, negative
values to a second key space by magnitude. Merging adds counts key by key and loses nothing, so
a quantile stays within the relative accuracy however many sketches were merged. Keys and
counts are plain ``int``: any store can hold a sketch (a Redis hash, say).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Final

from ddsketch.mapping import LogarithmicMapping

__all__ = ["DEFAULT_RELATIVE_ACCURACY", "Sketch", "mapping_for"]

DEFAULT_RELATIVE_ACCURACY: Final = 0.005
"""Half of P7's 1% target, which leaves room for rounding at the edges of a bucket."""


@lru_cache(maxsize=16)
def mapping_for(relative_accuracy: float) -> LogarithmicMapping:
    """The shared ddsketch mapping from values to bucket keys for ``relative_accuracy``."""
    if not 0.0 < relative_accuracy < 1.0:
        raise ValueError(f"relative_accuracy must be in (0, 1), got {relative_accuracy!r}")
    return LogarithmicMapping(relative_accuracy)


class Sketch:
    """A mergeable histogram of observed values, quantiles within a relative accuracy."""

    __slots__ = (
        "_mapping",
        "count",
        "max",
        "min",
        "negative",
        "positive",
        "relative_accuracy",
        "sum",
        "zero_count",
    )

    def __init__(self, relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY) -> None:
        self._mapping = mapping_for(relative_accuracy)
        self.relative_accuracy: float = relative_accuracy
        """Every quantile is within this relative error of the exact value at its rank."""
        self.positive: dict[int, int] = {}
        """Bucket key to count, for values above zero."""
        self.negative: dict[int, int] = {}
        """Bucket key of ``-v`` to count, for values below zero."""
        self.zero_count: int = 0
        """Values too close to zero to tell apart from it."""
        self.count: int = 0
        """All values observed."""
        self.sum: float = 0.0
        """Their sum."""
        self.min: float = math.inf
        """The smallest (``inf`` while empty)."""
        self.max: float = -math.inf
        """The largest (``-inf`` while empty)."""

    def add(self, value: float, count: int = 1) -> None:
        """Observe ``value`` ``count`` times. NaN and infinities are refused with ``ValueError``."""
        if not math.isfinite(value):
            raise ValueError(f"a sketch takes finite values, got {value!r}")
        mapping = self._mapping
        if value > mapping.min_possible:
            key = mapping.key(value)
            self.positive[key] = self.positive.get(key, 0) + count
        elif value < -mapping.min_possible:
            key = mapping.key(-value)
            self.negative[key] = self.negative.get(key, 0) + count
        else:
            self.zero_count += count
        self.count += count
        self.sum += value * count
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def merge(self, other: Sketch) -> None:
        """Add ``other``'s observations to this sketch (both must have the same accuracy)."""
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError(
                "cannot merge sketches of different relative accuracy: "
                f"{self.relative_accuracy!r} and {other.relative_accuracy!r}"
            )
        for mine, theirs in ((self.positive, other.positive), (self.negative, other.negative)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        self.zero_count += other.zero_count
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def copy(self) -> Sketch:
        """An independent sketch with the same observations."""
        twin = Sketch.__new__(Sketch)  # every slot is set below: no __init__ work twice
        twin._mapping = self._mapping
        twin.relative_accuracy = self.relative_accuracy
        twin.positive = dict(self.positive)
        twin.negative = dict(self.negative)
        twin.zero_count = self.zero_count
        twin.count = self.count
        twin.sum = self.sum
        twin.min = self.min
        twin.max = self.max
        return twin

    @property
    def avg(self) -> float | None:
        """The mean of the values, or ``None`` while empty."""
        return self.sum / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile by linear interpolation, numpy's default (``method="linear"``).

        ``None`` while empty. Rank ``h = q * (count - 1)``; the result lies between the values
        at ranks ``floor(h)`` and ``floor(h) + 1``, each within the relative accuracy (the
        first and last ranks exact: the observed min and max), so a small sample's p95 is not
        its median (nearest-rank methods put n=3's p95 at the middle value).
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q must be in [0, 1], got {q!r}")
        if self.count == 0:
            return None
        h = q * (self.count - 1)
        rank = math.floor(h)
        low = self._clamped(rank)
        if rank + 1 >= self.count or h == rank:
            return low
        high = self._clamped(rank + 1)
        return low + (h - rank) * (high - low)

    def _clamped(self, rank: int) -> float:
        """The value at ``rank``: exact at the ends, else its bucket's, within min and max."""
        if rank == 0:
            return self.min
        if rank == self.count - 1:
            return self.max
        return min(max(self._value_at(rank), self.min), self.max)

    def _value_at(self, rank: int) -> float:
        """The value the bucket holding ``rank`` stands for (only that one is computed).

        High ranks are found from the top (p95 and p99 walk a few buckets, not all).
        """
        value = self._mapping.value
        if not self.negative and rank >= self.count // 2:
            above = self.count - 1 - rank
            seen = 0
            positive = self.positive
            for key in sorted(positive, reverse=True):
                seen += positive[key]
                if seen > above:
                    return value(key)
            return 0.0
        seen = 0
        negative = self.negative
        for key in sorted(negative, reverse=True):
            seen += negative[key]
            if seen > rank:
                return -value(key)
        seen += self.zero_count
        if seen > rank:
            return 0.0
        positive = self.positive
        for key in sorted(positive):
            seen += positive[key]
            if seen > rank:
                return value(key)
        return self.max

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sketch):
            return NotImplemented
        return (
            self.relative_accuracy == other.relative_accuracy
            and self.positive == other.positive
            and self.negative == other.negative
            and self.zero_count == other.zero_count
            and self.count == other.count
            and math.isclose(self.sum, other.sum, rel_tol=1e-9, abs_tol=1e-12)
            and self.min == other.min
            and self.max == other.max
        )

    __hash__ = None  # type: ignore[assignment]  # mutable: not hashable

    def __repr__(self) -> str:
        return (
            f"<Sketch count={self.count} sum={self.sum:g} buckets="
            f"{len(self.positive) + len(self.negative) + bool(self.zero_count)}>"
        )
