"""``MemoryStore``: the embedded default store, in this process's memory, thread-safe.

Roll-ups are made on write: every delta is added to its bucket at each resolution of
:data:`~agentguard_metrics.store.ROLLUPS` (counters add, sketches merge, so a coarse bucket is
exactly the sum of its fine ones), and also to the metric's total over every series, so a read
without a label filter takes one cell per bucket. Buckets older than their roll-up's retention
are dropped, at most once a minute, when a batch is applied; a read starts at the finest
roll-up that still holds the start of its range and reads the whole coarser buckets inside it
there (:func:`~agentguard_metrics.store.plan_range`).

Label values past ``max_label_values`` per label per metric, over every batch applied, are
stored as ``other`` (:mod:`agentguard_metrics.caps`).
"""

from __future__ import annotations

import itertools
import math
import operator
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from agentguard_metrics.batch import DeltaBatch, GaugeSet, bucket_start, check_batch
from agentguard_metrics.caps import (
    DEFAULT_MAX_LABEL_VALUES,
    FORGET_LABEL_VALUES_S,
    LabelValue,
    batch_label_values,
    check_max_label_values,
    fold_batch,
)
from agentguard_metrics.sketch import DEFAULT_RELATIVE_ACCURACY, Sketch
from agentguard_metrics.store import (
    ROLLUPS,
    Bucket,
    DerivedReads,
    LabelFilter,
    Rollup,
    is_histogram,
    label_names,
    matcher,
    matches,
    plan_range,
)

__all__ = ["MemoryStore"]

_Labels = tuple[str, ...]

TOTAL: _Labels = ()
"""The label values the store keeps the sum of every series of a metric under.

No series has them (every series has at least its ``agent``), so a read without a label
filter takes one cell per bucket instead of adding up every series."""
_PRUNE_EVERY_S = 60.0
_SPARSE = 8
"""A counter series with fewer cells than a read's steps over this is walked cell by cell."""
_V = TypeVar("_V")


def _matching(
    by_labels: Mapping[_Labels, dict[int, _V]], wanted: tuple[tuple[int, str], ...]
) -> Iterator[dict[int, _V]]:
    """The cells of the series a filter selects: the total alone when it selects every one."""
    if not wanted:
        total = by_labels.get(TOTAL)
        if total is not None:
            yield total
        return
    for values, cells in by_labels.items():
        if values and matches(values, wanted):
            yield cells


def _starts(lo: float, hi: float, resolution_s: int) -> range | None:
    """The bucket starts of ``[lo, hi)`` (``lo`` aligned), or ``None`` when unbounded."""
    if lo == -float("inf") or hi == float("inf"):
        return None
    return range(int(lo), math.ceil(hi), resolution_s)


def _within(cells: Mapping[int, _V], starts: range | None) -> Iterable[tuple[int, _V]]:
    """The cells, or only those starting in ``starts`` when looking them up is fewer steps.

    Callers still check the range of what they get: this only saves iterations.
    """
    if starts is not None and len(starts) < len(cells):
        return [(b, cells[b]) for b in starts if b in cells]
    return cells.items()


def _by_step(cells: Mapping[int, _V], steps: range) -> Iterable[tuple[int, _V]]:
    """``(step index, cell)`` of the cells in ``steps`` (one bucket a step), fewest lookups.

    A sparse series (a model called a few times a day) is walked cell by cell; a dense one
    looked up step by step.
    """
    if len(cells) < len(steps):
        first, stop, width = steps.start, steps.stop, steps.step
        return [((b - first) // width, v) for b, v in cells.items() if first <= b < stop]
    return [(i, v) for i, v in enumerate(map(cells.get, steps)) if v is not None]


class MemoryStore(DerivedReads):
    """A :class:`~agentguard_metrics.store.Store` in memory (the default; one host only).

    Args:
        clock: Unix time now, for liveness, retention and forgetting processes.
        liveness_s: A process's ``inc``/``dec`` gauge contributions count while its latest
            heartbeat (or batch) is at most this old.
        forget_processes_s: How long the store remembers a silent process: its highest
            applied sequence and its gauge contributions (a batch it sent again later than
            this would count twice).
        max_label_values: Values kept per label per metric across every writer; later ones
            are stored as ``other``, counted (see :mod:`agentguard_metrics.caps`).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        liveness_s: float = 30.0,
        forget_processes_s: float = 24 * 3600.0,
        max_label_values: int = DEFAULT_MAX_LABEL_VALUES,
    ) -> None:
        if not liveness_s > 0:
            raise ValueError(f"liveness_s must be > 0, got {liveness_s!r}")
        if not forget_processes_s > 0:
            raise ValueError(f"forget_processes_s must be > 0, got {forget_processes_s!r}")
        self._max_label_values = check_max_label_values(max_label_values)
        self._clock = clock
        self._liveness_s = liveness_s
        self._forget_s = max(forget_processes_s, liveness_s)
        self._lock = threading.Lock()
        # per roll-up: metric name -> label values -> bucket start -> amount or sketch
        self._counters: list[dict[str, dict[_Labels, dict[int, float]]]] = [{} for _ in ROLLUPS]
        self._sketches: list[dict[str, dict[_Labels, dict[int, Sketch]]]] = [{} for _ in ROLLUPS]
        self._gauge_deltas: dict[str, dict[_Labels, dict[str, float]]] = {}
        self._gauge_sets: dict[str, dict[_Labels, GaugeSet]] = {}
        self._seen: dict[str, float] = {}
        self._applied: dict[str, int] = {}
        self._pruned_at = -float("inf")
        self._oldest: float | None = None
        # per metric and label position: the values admitted, with when each was last written
        self._known: dict[tuple[str, int], dict[str, float]] = {}

    # --- writes ---------------------------------------------------------------------------

    def apply(self, batch: DeltaBatch) -> None:
        """Add ``batch`` unless its sequence was passed already; also a heartbeat.

        Raises:
            InvalidBatch: an amount is out of range (:func:`check_batch`); nothing was added.
        """
        check_batch(batch)
        now = self._clock()
        with self._lock:
            if now - self._pruned_at >= _PRUNE_EVERY_S:
                self._prune(now)
            pid = batch.process_id
            self._beat(pid, batch.sent_at_unix_s)
            if batch.sequence <= self._applied.get(pid, 0):
                return
            self._applied[pid] = batch.sequence
            batch = fold_batch(batch, self._refused(batch, now))
            for _, _, at in (*batch.counters, *batch.histograms):
                if self._oldest is None or at < self._oldest:
                    self._oldest = at
            for (name, labels, at), amount in batch.counters.items():
                for tier, rollup in zip(self._counters, ROLLUPS, strict=True):
                    by_labels = tier.setdefault(name, {})
                    b = bucket_start(at, rollup.resolution_s)
                    for key in (labels, TOTAL):
                        cells = by_labels.setdefault(key, {})
                        cells[b] = cells.get(b, 0.0) + amount
            self._add_sketches(batch)
            self._add_gauges(batch)

    def _refused(self, batch: DeltaBatch, now: float) -> set[LabelValue]:
        """The label values of ``batch`` past the cap; the others are marked written now."""
        refused: set[LabelValue] = set()
        for (name, position), values in batch_label_values(batch).items():
            known = self._known.setdefault((name, position), {})
            for value in values:
                if value in known or len(known) < self._max_label_values:
                    known[value] = now
                else:
                    refused.add((name, position, value))
        return refused

    def _add_sketches(self, batch: DeltaBatch) -> None:
        for (name, labels, at), sketch in batch.histograms.items():
            for stier, rollup in zip(self._sketches, ROLLUPS, strict=True):
                by_labels = stier.setdefault(name, {})
                b = bucket_start(at, rollup.resolution_s)
                for key in (labels, TOTAL):
                    scells = by_labels.setdefault(key, {})
                    held = scells.get(b)
                    if held is None:
                        scells[b] = sketch.copy()
                    else:
                        held.merge(sketch)

    def _add_gauges(self, batch: DeltaBatch) -> None:
        for (name, labels), delta in batch.gauge_deltas.items():
            by_process = self._gauge_deltas.setdefault(name, {}).setdefault(labels, {})
            pid = batch.process_id
            by_process[pid] = by_process.get(pid, 0.0) + delta
        for (name, labels), setting in batch.gauge_sets.items():
            latest = self._gauge_sets.setdefault(name, {})
            held_set = latest.get(labels)
            if held_set is None or setting.at_unix_s >= held_set.at_unix_s:
                latest[labels] = setting

    def heartbeat(self, process_id: str, at_unix_s: float) -> None:
        """Record that ``process_id`` was alive at ``at_unix_s``."""
        with self._lock:
            self._beat(process_id, at_unix_s)

    def _beat(self, process_id: str, at_unix_s: float) -> None:
        if at_unix_s > self._seen.get(process_id, -float("inf")):
            self._seen[process_id] = at_unix_s

    def _prune(self, now: float) -> None:
        self._pruned_at = now
        for rollup, counters, sketches in zip(ROLLUPS, self._counters, self._sketches, strict=True):
            if rollup.retention_s is None:
                continue
            oldest = now - rollup.retention_s - rollup.resolution_s
            for tier in (counters, sketches):
                for by_labels in tier.values():
                    for cells in by_labels.values():
                        for b in [b for b in cells if b < oldest]:
                            del cells[b]
        forgotten = now - FORGET_LABEL_VALUES_S
        for known in self._known.values():
            for value in [v for v, at in known.items() if at < forgotten]:
                del known[value]
        dead = now - self._forget_s
        for pid in [p for p, at in self._seen.items() if at < dead]:
            del self._seen[pid]
            self._applied.pop(pid, None)
            for by_labels_g in self._gauge_deltas.values():
                for by_process in by_labels_g.values():
                    by_process.pop(pid, None)

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
        total = 0.0
        with self._lock:
            for index, lo, hi, starts in self._parts(start, end):
                for cells in _matching(self._counters[index].get(name, {}), wanted):
                    total += sum(v for b, v in _within(cells, starts) if lo <= b < hi)
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
        merged = Sketch(DEFAULT_RELATIVE_ACCURACY)
        with self._lock:
            for index, lo, hi, starts in self._parts(start, end):
                for cells in _matching(self._sketches[index].get(name, {}), wanted):
                    for b, sketch in _within(cells, starts):
                        if lo <= b < hi:
                            merged.merge(sketch)
        return merged

    def series(self, name: str) -> list[tuple[str, ...]]:
        """Every label-value tuple metric ``name`` has had (within the longest retention)."""
        label_names(name)
        with self._lock:
            found: set[_Labels] = set(self._counters[-1].get(name, {}))
            found.update(self._sketches[-1].get(name, {}))
            found.update(self._gauge_deltas.get(name, {}))
            found.update(self._gauge_sets.get(name, {}))
        found.discard(TOTAL)
        return sorted(found)

    def counters(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> dict[_Labels, float]:
        """Counter ``name`` over ``start <= t < end``, per series."""
        label_names(name)
        found: dict[_Labels, float] = {}
        with self._lock:
            for index, lo, hi, starts in self._parts(start, end):
                for values, cells in self._counters[index].get(name, {}).items():
                    if values:
                        amount = sum(v for b, v in _within(cells, starts) if lo <= b < hi)
                        found[values] = found.get(values, 0.0) + amount
        return found

    def histograms(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> dict[_Labels, Sketch]:
        """Histogram ``name`` over ``start <= t < end``, per series."""
        label_names(name)
        found: dict[_Labels, Sketch] = {}
        with self._lock:
            for index, lo, hi, starts in self._parts(start, end):
                for values, cells in self._sketches[index].get(name, {}).items():
                    if not values:
                        continue
                    merged = found.get(values)
                    if merged is None:
                        merged = found[values] = Sketch(DEFAULT_RELATIVE_ACCURACY)
                    for b, sketch in _within(cells, starts):
                        if lo <= b < hi:
                            merged.merge(sketch)
        return found

    def gauges(self, name: str) -> dict[_Labels, float]:
        """Gauge ``name`` now, per series."""
        label_names(name)
        live_since = self._clock() - self._liveness_s
        found: dict[_Labels, float] = {}
        with self._lock:
            for values, by_process in self._gauge_deltas.get(name, {}).items():
                found[values] = sum(
                    v
                    for pid, v in by_process.items()
                    if self._seen.get(pid, -float("inf")) >= live_since
                )
            for values, setting in self._gauge_sets.get(name, {}).items():
                found[values] = found.get(values, 0.0) + setting.value
        return found

    def _parts(
        self, start: float | None, end: float | None
    ) -> list[tuple[int, float, float, range | None]]:
        """The roll-up indexes, bounds and bucket starts of a read (see ``plan_range``)."""
        return [
            (ROLLUPS.index(rollup), lo, hi, _starts(lo, hi, rollup.resolution_s))
            for rollup, lo, hi in plan_range(start, end, self._clock(), self._oldest)
        ]

    def now(self) -> float:
        """The store's clock."""
        return self._clock()

    def read_steps(
        self, name: str, wanted: LabelFilter, rollup: Rollup, steps: range
    ) -> list[Bucket]:
        """Counter increases or histogram sketches per step (see ``DerivedReads``)."""
        with self._lock:
            series = self._tier(name, rollup)
            return self._steps(name, list(_matching(series, wanted)), rollup, steps)

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
        """:meth:`read_steps` for every value of label ``at`` (or ``values``): one pass."""
        with self._lock:
            groups: dict[str, list[dict[int, Any]]] = {}
            for series, cells in self._tier(name, rollup).items():
                if series and (values is None or series[at] in values) and matches(series, wanted):
                    groups.setdefault(series[at], []).append(cells)
            return {v: self._steps(name, found, rollup, steps) for v, found in groups.items()}

    def _tier(self, name: str, rollup: Rollup) -> Mapping[_Labels, dict[int, Any]]:
        """The cells of metric ``name`` in ``rollup``, per series (the total under ``()``)."""
        tiers = self._sketches if is_histogram(name) else self._counters
        series: Mapping[_Labels, dict[int, Any]] = tiers[ROLLUPS.index(rollup)].get(name, {})
        return series

    def _steps(
        self, name: str, found: list[dict[int, Any]], rollup: Rollup, steps: range
    ) -> list[Bucket]:
        """The steps of the series ``found`` (their cells in ``rollup``), added up."""
        if steps.step == rollup.resolution_s:
            return self._steps_at_resolution(name, found, steps)
        step_s, first = steps.step, steps.start
        held_range = range(first, first + len(steps) * step_s, rollup.resolution_s)
        if is_histogram(name):
            sketches: dict[int, Sketch] = {}
            for scells in found:
                for b, sketch in _within(scells, held_range):
                    s = b - b % step_s  # bucket starts are ints: bucket_start(b, step_s)
                    if first <= s < steps.stop:
                        held = sketches.get(s)
                        if held is None:
                            sketches[s] = sketch.copy()
                        else:
                            held.merge(sketch)
            return [
                Bucket(s, float(sk.count), sk)
                for s in steps
                for sk in [sketches.get(s) or Sketch(DEFAULT_RELATIVE_ACCURACY)]
            ]
        amounts = dict.fromkeys(steps, 0.0)
        for cells in found:
            for b, v in _within(cells, held_range):
                s = b - b % step_s
                if s in amounts:
                    amounts[s] += v
        return [Bucket(s, amounts[s]) for s in steps]

    def _steps_at_resolution(
        self, name: str, found: list[dict[int, Any]], steps: range
    ) -> list[Bucket]:
        """:meth:`_steps` when each step is one bucket of the roll-up: looked up, not scanned."""
        if is_histogram(name):
            sketches: list[Sketch | None] = [None] * len(steps)
            for scells in found:
                for i, sketch in _by_step(scells, steps):
                    held = sketches[i]
                    if held is None:
                        sketches[i] = sketch.copy()
                    else:
                        held.merge(sketch)
            return [
                Bucket(s, float(sk.count), sk)
                for s, held in zip(steps, sketches, strict=True)
                for sk in [held or Sketch(DEFAULT_RELATIVE_ACCURACY)]
            ]
        amounts: list[float] | None = None
        for cells in found:
            if len(cells) * _SPARSE < len(steps):
                amounts = amounts or [0.0] * len(steps)
                for i, amount in _by_step(cells, steps):
                    amounts[i] += amount
                continue
            # map() over dict.get keeps the per-step loop in C: this is the hot loop of a
            # query at 1-minute steps (1,440 steps a day, a read per metric and label).
            step_amounts = list(map(cells.get, steps, itertools.repeat(0.0)))
            amounts = (
                step_amounts if amounts is None else list(map(operator.add, amounts, step_amounts))
            )
        if amounts is None:
            amounts = [0.0] * len(steps)
        return list(map(Bucket, steps, amounts))

    def __repr__(self) -> str:
        return f"<MemoryStore processes={len(self._seen)}>"
