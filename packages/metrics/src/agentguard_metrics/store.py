"""The ``Store`` protocol: where the deltas of every process add up, and how they are read.

Every store passes the contract suite ``tests/metrics/store_contract.py``. Time ranges are
``start <= bucket start < end`` in Unix seconds (``None``: open), rounded down to the roll-up
a read uses (:data:`ROLLUPS`, :func:`plan_range`). Label filters are ``{label name: value}``;
unnamed labels match anything. Every series is also kept per ``agent``
(:func:`series_labels`), so every read can be narrowed to one agent; a read without a filter
adds up every agent. A store applies a batch only when its ``sequence`` is above the highest
it applied for the batch's process.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol, TypeAlias, runtime_checkable

from agentguard.metricmap import AGENT as _AGENT
from agentguard.metricmap import METRICS, Metric
from agentguard_metrics.batch import DeltaBatch, bucket_start
from agentguard_metrics.sketch import Sketch

__all__ = [
    "AGENT",
    "ROLLUPS",
    "Bucket",
    "DerivedReads",
    "LabelFilter",
    "Rollup",
    "Store",
    "is_histogram",
    "label_names",
    "label_position",
    "matcher",
    "matches",
    "plan_range",
    "plan_steps",
    "rollup_for",
    "series_labels",
]

AGENT: Final = _AGENT
"""The label every series is kept by in a store, whether or not the metric has it."""


def series_labels(metric: Metric) -> tuple[str, ...]:
    """The label names a store keeps ``metric``'s series by: its own, then ``agent``.

    Metrics labelled by agent already (``agentguard_runs_total``, ...) keep their labels.
    The Prometheus exposition of a store adds the extra ``agent`` up again.
    """
    return metric.series_labels


@dataclass(frozen=True, slots=True)
class Rollup:
    """One resolution a store keeps, and for how long."""

    resolution_s: int
    """The width of its time buckets."""
    retention_s: int | None
    """How long its buckets are kept after they end; ``None`` for ever."""


_HOUR = 3600
_DAY = 24 * _HOUR

ROLLUPS: Final[tuple[Rollup, ...]] = (
    Rollup(60, _DAY),
    Rollup(5 * 60, _DAY),
    Rollup(15 * 60, 7 * _DAY),
    Rollup(_HOUR, 30 * _DAY),
    Rollup(_DAY, None),
)
"""DESIGN.md section 5's granularities: 1m and 5m for 24h, 15m for 7d, 1h for 30d, 1d for ever.

DESIGN.md keeps 1m buckets 6 h; they are kept 24 h here because P6 asks for a 24 h query at
1-minute granularity."""


class Bucket(NamedTuple):
    """One step of a time series read from a store.

    A named tuple rather than a frozen dataclass: a query at 1-minute steps makes tens of
    thousands of them, and a frozen dataclass takes about four times as long to build.
    """

    start_unix_s: int
    """The start of the step."""
    value: float
    """A counter's increase over the step, or a histogram's count of observations."""
    sketch: Sketch | None = None
    """A histogram's observations over the step (``None`` for counters). Read-only: a store
    may share it with what it keeps (merge it into a sketch of your own)."""


@runtime_checkable
class Store(Protocol):
    """Where aggregators apply their deltas and readers read the totals of every process."""

    def apply(self, batch: DeltaBatch) -> None:
        """Add ``batch``'s deltas, unless its sequence is not above its process's highest.

        Also a heartbeat of ``batch.process_id`` at ``batch.sent_at_unix_s``. Raises on a
        failure to store (the aggregator keeps the batch and sends it again), and
        :class:`~agentguard_metrics.batch.InvalidBatch`, having written none of it, when
        the content cannot be stored (:func:`~agentguard_metrics.batch.check_batch`; the
        aggregator quarantines it: sending it again could not succeed).
        """
        ...

    def heartbeat(self, process_id: str, at_unix_s: float) -> None:
        """Record that ``process_id`` is alive; its gauge contributions count while it is."""
        ...

    def counter(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> float:
        """The sum of a counter over the matching series and time range."""
        ...

    def histogram(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> Sketch:
        """The merged observations of a histogram over the matching series and time range."""
        ...

    def quantile(
        self,
        name: str,
        q: float,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> float | None:
        """The ``q`` quantile of a histogram (``None`` when nothing was observed)."""
        ...

    def gauge(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """A gauge now: live processes' contributions summed, or the latest value set."""
        ...

    def series(self, name: str) -> list[tuple[str, ...]]:
        """The label values of every series of metric ``name``, sorted."""
        ...

    def counters(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> dict[tuple[str, ...], float]:
        """Counter ``name`` over the time range, per series (label values to sum).

        One read for every series, as ``/metrics`` and group-by queries need; series with
        nothing in the range may be left out.
        """
        ...

    def histograms(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> dict[tuple[str, ...], Sketch]:
        """Histogram ``name`` over the time range, per series (label values to sketch)."""
        ...

    def gauges(self, name: str) -> dict[tuple[str, ...], float]:
        """Gauge ``name`` now, per series, as :meth:`gauge` reads each."""
        ...

    def buckets(
        self,
        name: str,
        labels: Mapping[str, str] | None,
        start: float,
        end: float,
        step_s: int,
    ) -> list[Bucket]:
        """A counter or histogram as a time series of steps of ``step_s`` from ``start``.

        Every step from ``bucket_start(start, step_s)`` up to ``end`` is listed, empty or not.
        ``step_s`` must be a multiple of a resolution that still holds ``start``.
        """
        ...

    def buckets_by(
        self,
        name: str,
        label: str,
        labels: Mapping[str, str] | None = None,
        *,
        start: float,
        end: float,
        step_s: int,
        values: Collection[str] | None = None,
    ) -> dict[str, list[Bucket]]:
        """:meth:`buckets` of the series matching ``labels``, per value of ``label``.

        One pass over the store for every value at once (a query's models, token types,
        error sources), where a :meth:`buckets` call per value would read every series again
        each time. Each value's list is as :meth:`buckets` gives it; values without a series
        matching ``labels`` may be left out. ``values``: only these (the answer grows with
        values times steps: a day at 1-minute steps of 2,000 models is 2.9 million steps).
        ``ValueError`` for a label the metric lacks.
        """
        ...


class DerivedReads:
    """The reads every store derives from its primitives the same way: a base for stores.

    A store subclasses it and implements :meth:`Store.histogram`, :meth:`Store.gauges` and
    the three primitives below (:meth:`now`, :meth:`read_steps`, :meth:`read_steps_by`);
    :meth:`quantile`, :meth:`gauge`, :meth:`buckets` and :meth:`buckets_by` follow, with
    their label checks and the choice of roll-up (:func:`plan_steps`) made here once.
    """

    __slots__ = ()

    def histogram(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> Sketch:
        """The merged observations of a histogram over the matching series and time range."""
        raise NotImplementedError

    def gauges(self, name: str) -> dict[tuple[str, ...], float]:
        """Gauge ``name`` now, per series."""
        raise NotImplementedError

    def now(self) -> float:
        """The store's clock (Unix seconds): which roll-ups still hold a start."""
        raise NotImplementedError

    def read_steps(
        self, name: str, wanted: LabelFilter, rollup: Rollup, steps: range
    ) -> list[Bucket]:
        """Primitive of :meth:`buckets`: the series matching ``wanted``, added up per step.

        ``rollup`` and ``steps`` come from :func:`plan_steps`: read ``rollup``'s buckets and
        list one :class:`Bucket` per start in ``steps`` (empty steps too).
        """
        raise NotImplementedError

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
        """Primitive of :meth:`buckets_by`: :meth:`read_steps` per value of label ``at``.

        ``at`` is the label's position in the series' label values; ``values``: only these.
        """
        raise NotImplementedError

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

    def buckets(
        self,
        name: str,
        labels: Mapping[str, str] | None,
        start: float,
        end: float,
        step_s: int,
    ) -> list[Bucket]:
        """Counter increases or histogram sketches per step of ``step_s`` seconds."""
        wanted = matcher(name, labels)
        rollup, steps = plan_steps(start, end, step_s, self.now())
        return self.read_steps(name, wanted, rollup, steps)

    def buckets_by(
        self,
        name: str,
        label: str,
        labels: Mapping[str, str] | None = None,
        *,
        start: float,
        end: float,
        step_s: int,
        values: Collection[str] | None = None,
    ) -> dict[str, list[Bucket]]:
        """:meth:`buckets` for every value of ``label`` (or ``values``): one pass."""
        wanted = matcher(name, labels)
        at = label_position(name, label)
        rollup, steps = plan_steps(start, end, step_s, self.now())
        return self.read_steps_by(name, wanted, at, rollup, steps, values=values)


# --- shared by every store: label filters and the choice of roll-up ---------------------------

_LABELS: dict[str, tuple[str, ...]] = {m.name: m.series_labels for m in METRICS}
_TYPES: dict[str, str] = {m.name: m.type for m in METRICS}


def is_histogram(name: str) -> bool:
    """Whether metric ``name`` is a histogram."""
    return _TYPES.get(name) == "histogram"


def label_names(name: str) -> tuple[str, ...]:
    """The label names a store keeps for ``name``; ``ValueError`` for an unknown metric."""
    try:
        return _LABELS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; see agentguard.metricmap.METRICS") from None


def label_position(name: str, label: str) -> int:
    """Where ``label`` sits in the label values a store keeps ``name`` by (``series_labels``)."""
    names = label_names(name)
    if label not in names:
        raise ValueError(f"{name} has no label {label!r}; its labels are {names}")
    return names.index(label)


LabelFilter: TypeAlias = tuple[tuple[int, str], ...]
"""``(position, value)`` pairs a series' label values must have: see :func:`matcher`."""


def matcher(name: str, labels: Mapping[str, str] | None) -> LabelFilter:
    """``(position, value)`` pairs a series' label values must have to match ``labels``."""
    names = label_names(name)
    if not labels:
        return ()
    unknown = set(labels) - set(names)
    if unknown:
        raise ValueError(f"{name} has no label(s) {sorted(unknown)}; its labels are {names}")
    return tuple((names.index(k), v) for k, v in labels.items())


def matches(values: tuple[str, ...], wanted: LabelFilter) -> bool:
    """Whether label ``values`` satisfy a :func:`matcher`."""
    return all(values[i] == v for i, v in wanted)


def rollup_for(start: float | None, now: float, step_s: int | None = None) -> Rollup:
    """The roll-up to read from ``start`` on: the coarsest one when ``start`` is ``None``.

    With ``step_s``, the coarsest roll-up whose resolution divides ``step_s`` and that still
    holds ``start`` (fewest buckets to add up); otherwise the finest that holds ``start``.
    A roll-up holds the buckets that ended within its retention, so a start up to one of its
    buckets older than the retention is still held: a query whose window was planned a
    moment before (a 24 h window at 1-minute steps) still reads it when the minute turns.
    """
    if start is None:
        return ROLLUPS[-1]
    holding = [
        r for r in ROLLUPS if r.retention_s is None or start >= now - r.retention_s - r.resolution_s
    ]
    if step_s is None:
        return holding[0]
    fitting = [r for r in holding if step_s % r.resolution_s == 0]
    if not fitting:
        finest = holding[0].resolution_s
        raise ValueError(
            f"step_s={step_s} is not a multiple of {finest}, the finest resolution "
            "kept for that start"
        )
    return fitting[-1]


def plan_steps(start: float, end: float, step_s: int, now: float) -> tuple[Rollup, range]:
    """What :meth:`Store.buckets` reads: the roll-up, and every step's start up to ``end``.

    Raises:
        ValueError: ``step_s`` is not positive, or not a multiple of a resolution that still
            holds ``start``.
    """
    if step_s <= 0:
        raise ValueError(f"step_s must be > 0, got {step_s!r}")
    rollup = rollup_for(start, now, step_s)
    first = bucket_start(start, step_s)
    return rollup, range(first, int(end) if end == int(end) else int(end) + 1, step_s)


Part = tuple[Rollup, float, float]
"""One part of a read: a roll-up and the bucket starts ``lo <= b < hi`` to read there."""


def plan_range(
    start: float | None, end: float | None, now: float, oldest: float | None
) -> list[Part]:
    """What a read of ``[start, end)`` reads, in parts of whole buckets of one roll-up each.

    The range begins at the finest roll-up that holds ``start`` (or ``oldest``, the oldest
    bucket the store holds, when ``start`` is ``None``; the coarsest roll-up when both are),
    rounded down to its resolution; the whole buckets of a coarser roll-up inside it are read
    from that roll-up, the rest at the edges from finer ones. A coarse bucket holds exactly
    what its fine buckets hold, so the parts add up to the same amounts and sketches, from
    far fewer buckets: a day of 1-minute buckets is about 22 hourly ones and the minutes and
    quarters at either edge; open ends read the daily roll-up.
    """
    anchor = start if start is not None else oldest
    base = ROLLUPS[-1] if anchor is None else rollup_for(anchor, now)
    lo = -math.inf if start is None else float(bucket_start(start, base.resolution_s))
    hi = math.inf if end is None else float(end)
    return _split(lo, hi, base, ROLLUPS[ROLLUPS.index(base) + 1 :])


def _split(lo: float, hi: float, base: Rollup, coarser: Sequence[Rollup]) -> list[Part]:
    if not hi > lo:
        return []
    for at in range(len(coarser) - 1, -1, -1):
        res = coarser[at].resolution_s
        first = lo if lo == -math.inf else float(math.ceil(lo / res) * res)
        last = hi if hi == math.inf else float(math.floor(hi / res) * res)
        if last - first >= res:
            finer = coarser[:at]
            return [
                *_split(lo, first, base, finer),
                (coarser[at], first, last),
                *_split(last, hi, base, finer),
            ]
    return [(base, lo, hi)]
