"""A read-only view of a store narrowed to a token's agents (and alerts or not).

Every read of the service goes through the ``Store`` protocol, so narrowing the store once
narrows the snapshot, ``/metrics``, the stream and the query alike: nothing of an agent
outside the scope can reach an answer. Alerts (``agentguard_alerts_total``, kept under agent
``""``) are read whole with the alerts scope and not at all without it; a breaker's state
now (a gauge set under agent ``""``, belonging to no agent) is read whole for every token.
"""

from __future__ import annotations

import operator
from collections.abc import Collection, Iterable, Mapping
from typing import NoReturn

from agentguard.metricmap import ALERTS, METRICS
from agentguard_metrics.batch import DeltaBatch, bucket_start
from agentguard_metrics.sketch import DEFAULT_RELATIVE_ACCURACY, Sketch
from agentguard_metrics.store import (
    AGENT,
    Bucket,
    DerivedReads,
    Store,
    is_histogram,
    label_position,
    matcher,
    matches,
)
from agentguard_service._tokens import Token

__all__ = ["ScopedStore"]

_SHARED = frozenset(m.name for m in METRICS if m.set_by_events)
"""Metrics that belong to no agent and carry no agent's data: read whole by every token."""
_NONE: frozenset[str] = frozenset()


class ScopedStore(DerivedReads):
    """Reads of ``store`` that see only what ``token`` may read; writes are refused.

    ``quantile`` and ``gauge`` come from :class:`DerivedReads`, over the narrowed
    :meth:`histogram` and :meth:`gauges`; ``buckets`` and ``buckets_by`` are its own.
    """

    def __init__(self, store: Store, token: Token) -> None:
        self._store = store
        self._agents = token.agents
        self._alerts = token.alerts

    def _scope(self, name: str) -> frozenset[str] | None:
        """The agents readable in metric ``name``; ``None`` for all of it."""
        if name == ALERTS.name:
            return None if self._alerts else _NONE
        if name in _SHARED:
            return None
        return self._agents

    def _within(self, name: str, labels: Mapping[str, str] | None) -> frozenset[str]:
        """The agents of the scope that ``labels`` still allows (``_scope`` is not None)."""
        agents = self._scope(name)
        assert agents is not None
        if labels and AGENT in labels:
            return agents & {labels[AGENT]}
        return agents

    def _kept(self, name: str, series: Iterable[tuple[str, ...]]) -> list[tuple[str, ...]]:
        agents = self._scope(name)
        if agents is None:
            return list(series)
        at = label_position(name, AGENT)
        return [values for values in series if values[at] in agents]

    def apply(self, batch: DeltaBatch) -> NoReturn:
        """Refused: the view only reads."""
        raise TypeError("a scoped store only reads")

    def heartbeat(self, process_id: str, at_unix_s: float) -> NoReturn:
        """Refused: the view only reads."""
        raise TypeError("a scoped store only reads")

    def series(self, name: str) -> list[tuple[str, ...]]:
        """The label values of the series in scope, sorted."""
        return self._kept(name, self._store.series(name))

    def counters(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> dict[tuple[str, ...], float]:
        """Counter ``name`` per series in scope."""
        found = self._store.counters(name, start, end)
        return {values: found[values] for values in self._kept(name, found)}

    def histograms(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> dict[tuple[str, ...], Sketch]:
        """Histogram ``name`` per series in scope."""
        found = self._store.histograms(name, start, end)
        return {values: found[values] for values in self._kept(name, found)}

    def gauges(self, name: str) -> dict[tuple[str, ...], float]:
        """Gauge ``name`` now, per series in scope."""
        found = self._store.gauges(name)
        return {values: found[values] for values in self._kept(name, found)}

    def counter(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> float:
        """The sum of counter ``name`` over the matching series in scope."""
        if self._scope(name) is None:
            return self._store.counter(name, labels, start, end)
        wanted = matcher(name, labels)
        per_series = self.counters(name, start, end)
        return sum(v for values, v in per_series.items() if matches(values, wanted))

    def histogram(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> Sketch:
        """The merged observations of histogram ``name`` over the matching series in scope."""
        if self._scope(name) is None:
            return self._store.histogram(name, labels, start, end)
        wanted = matcher(name, labels)
        merged = Sketch(DEFAULT_RELATIVE_ACCURACY)
        for values, sketch in self.histograms(name, start, end).items():
            if matches(values, wanted):
                merged.merge(sketch)
        return merged

    def buckets(
        self,
        name: str,
        labels: Mapping[str, str] | None,
        start: float,
        end: float,
        step_s: int,
    ) -> list[Bucket]:
        """Counter ``name`` or histogram ``name`` per step, over the series in scope."""
        if self._scope(name) is None:
            return self._store.buckets(name, labels, start, end, step_s)
        agents = self._within(name, labels)
        per_agent: dict[str, list[Bucket]] = {}
        if agents:
            per_agent = self._store.buckets_by(
                name, AGENT, labels, start=start, end=end, step_s=step_s, values=agents
            )
        return _added(name, per_agent.values(), start, end, step_s)

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
        """:meth:`buckets` per value of ``label``, over the series in scope."""
        if self._scope(name) is None:
            return self._store.buckets_by(
                name, label, labels, start=start, end=end, step_s=step_s, values=values
            )
        agents = self._within(name, labels)
        if label == AGENT:
            wanted = agents if values is None else agents & frozenset(values)
            if not wanted:
                return {}
            return self._store.buckets_by(
                name, label, labels, start=start, end=end, step_s=step_s, values=wanted
            )
        per_value: dict[str, list[list[Bucket]]] = {}
        for agent in sorted(agents):
            found = self._store.buckets_by(
                name,
                label,
                {**(labels or {}), AGENT: agent},
                start=start,
                end=end,
                step_s=step_s,
                values=values,
            )
            for value, steps in found.items():
                per_value.setdefault(value, []).append(steps)
        return {
            value: _added(name, lists, start, end, step_s) for value, lists in per_value.items()
        }


def _added(
    name: str, lists: Iterable[list[Bucket]], start: float, end: float, step_s: int
) -> list[Bucket]:
    """Several series' steps added up step by step, every step listed (as ``buckets`` does).

    One list is handed back as it is; lists are added index by index once they line up
    with the steps (the store lists every step: they do already; the hot loop of a scoped
    query at 1-minute steps).
    """
    first = bucket_start(start, step_s)
    starts = range(first, int(end) if end == int(end) else int(end) + 1, step_s)
    aligned = [_aligned(name, steps, starts) for steps in lists]
    if len(aligned) == 1:
        return aligned[0]
    if not is_histogram(name):
        totals = [0.0] * len(starts)
        for steps in aligned:
            totals = list(map(operator.add, totals, [b.value for b in steps]))
        return list(map(Bucket, starts, totals))
    sketches = [Sketch(DEFAULT_RELATIVE_ACCURACY) for _ in starts]
    for steps in aligned:
        for held, bucket in zip(sketches, steps, strict=True):
            if bucket.sketch is not None and bucket.sketch.count:
                held.merge(bucket.sketch)
    return [Bucket(s, float(sk.count), sk) for s, sk in zip(starts, sketches, strict=True)]


def _aligned(name: str, steps: list[Bucket], starts: range) -> list[Bucket]:
    """``steps`` with one bucket per start of ``starts``, in order (empty ones added)."""
    if len(steps) == len(starts) and (not steps or steps[0].start_unix_s == starts[0]):
        return steps
    by_start = {b.start_unix_s: b for b in steps}
    histogram = is_histogram(name)
    return [
        by_start.get(s) or Bucket(s, 0.0, Sketch(DEFAULT_RELATIVE_ACCURACY) if histogram else None)
        for s in starts
    ]
