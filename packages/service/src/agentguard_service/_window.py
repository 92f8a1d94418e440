"""One query's window over a store: its steps, its reads, each read once per query.

Everything here goes through the :class:`~agentguard_metrics.store.Store` protocol only, so a
query runs unchanged on any store. A scope (some agents, one endpoint) narrows every read:
through the store's label filter for per-step and total reads (one read per agent, added up:
a filter holds one value per label), and by each series' label values for the per-series
bulk reads (``counters``, ``histograms``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timezone

from agentguard.metricmap import METRICS, Metric
from agentguard_metrics.batch import bucket_start
from agentguard_metrics.sketch import DEFAULT_RELATIVE_ACCURACY, Sketch
from agentguard_metrics.store import (
    AGENT,
    Bucket,
    Store,
    label_names,
    label_position,
    series_labels,
)

_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
Labels = tuple[tuple[str, str], ...]


def iso(unix_s: float) -> str:
    """``2026-01-01T00:00:00Z``: an ISO 8601 UTC time, to the second."""
    moment = datetime.fromtimestamp(unix_s, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def agent_position(name: str) -> int:
    """Where ``agent`` sits in the label values a store keeps ``name`` by."""
    return series_labels(_BY_NAME[name]).index(AGENT)


class Window:
    """The steps ``[start, end)`` of one query, and its reads (each made once).

    Args:
        store: Where the data is.
        start: The first step's start (a multiple of ``step_s``).
        end: The end of the last step.
        step_s: The width of a step.
        agents: Only these agents' series (their union), or every agent's with ``None``.
        only: ``(label, value)``: only the series whose ``label`` is ``value`` (an endpoint:
            ``("model", "sonnet")``); a metric without that label reads as nothing.
    """

    def __init__(
        self,
        store: Store,
        *,
        start: int,
        end: int,
        step_s: int,
        agents: tuple[str, ...] | None = None,
        only: tuple[str, str] | None = None,
    ) -> None:
        self.store = store
        self.start = start
        self.end = end
        self.step_s = step_s
        self.agents = agents
        self.only = only
        self.starts = list(range(start, end, step_s))
        self._timestamps: list[str] | None = None
        self._series: dict[str, list[tuple[str, ...]]] = {}
        self._counts: dict[tuple[str, Labels], list[float]] = {}
        self._steps: dict[tuple[str, Labels], list[Sketch | float]] = {}
        self._sketches: dict[tuple[str, Labels, int, int], Sketch] = {}
        self._grouped: dict[tuple[str, int, int], dict[tuple[str, ...], float]] = {}
        self._by: dict[tuple[str, str, tuple[str, ...] | None, Labels], dict[str, list[float]]] = {}
        self._zeros = [0.0] * len(self.starts)
        self._by_agent: dict[str, Window] = {}

    @property
    def _split(self) -> bool:
        """Whether reads are the sum of one window per agent (a store filter holds one)."""
        return self.agents is not None and len(self.agents) > 1

    def part(self, agent: str) -> Window:
        """The window of one of :attr:`agents`: made once, its reads shared with this one's."""
        found = self._by_agent.get(agent)
        if found is None:
            found = self._by_agent[agent] = Window(
                self.store,
                start=self.start,
                end=self.end,
                step_s=self.step_s,
                agents=(agent,),
                only=self.only,
            )
        return found

    def _parts(self) -> list[Window]:
        return [self.part(agent) for agent in self.agents or ()]

    @property
    def scoped(self) -> bool:
        """Whether the window reads only some agents or one endpoint."""
        return self.agents is not None or self.only is not None

    def unscoped(self) -> Window:
        """The same steps over every series (for what belongs to no agent: alerts)."""
        return Window(self.store, start=self.start, end=self.end, step_s=self.step_s)

    def timestamps(self) -> list[str]:
        """Every step's start, in ISO 8601."""
        if self._timestamps is None:
            days: dict[int, str] = {}
            found = []
            for s in self.starts:
                day, second = divmod(s, 86400)
                prefix = days.get(day)
                if prefix is None:
                    prefix = days[day] = iso(day * 86400)[:11]
                hour, rest = divmod(second, 3600)
                found.append(f"{prefix}{hour:02}:{rest // 60:02}:{rest % 60:02}Z")
            self._timestamps = found
        return self._timestamps

    def _filters(self, name: str, labels: Mapping[str, str]) -> list[dict[str, str]]:
        """The store label filters whose union is this window's part of ``name``.

        One per agent asked for (a store filter holds one value per label); none when
        ``only`` names a label ``name`` lacks.
        """
        base = dict(labels)
        if self.only is not None:
            label, value = self.only
            if label not in label_names(name):
                return []
            base[label] = value
        if self.agents is None:
            return [base]
        return [{**base, AGENT: agent} for agent in self.agents]

    def series_filters(self, name: str) -> list[dict[str, str]]:
        """The store label filters whose union is this window's part of ``name`` (``{}``: all)."""
        return self._filters(name, {})

    def keeps(self, name: str) -> Callable[[tuple[str, ...]], bool]:
        """Whether a series of ``name`` (its label values, as bulk reads key them) is read."""
        only_at = value = None
        if self.only is not None:
            if self.only[0] not in label_names(name):
                return lambda values: False
            only_at, value = label_position(name, self.only[0]), self.only[1]
        agents = None if self.agents is None else frozenset(self.agents)
        agent_at = agent_position(name)
        return lambda values: (
            (agents is None or values[agent_at] in agents)
            and (only_at is None or values[only_at] == value)
        )

    def _any_series(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether any series of ``name`` matches ``labels`` (and the scope) at all.

        One ``series`` read per metric and query spares the per-step reads of metrics that
        have nothing (no breaker, no loop, no error of some source): most of them, often.
        """
        series = self._series.get(name)
        if series is None:
            series = self._series[name] = self.store.series(name)
        for wanted in self._filters(name, labels):
            at = [(label_position(name, k), v) for k, v in wanted.items()]
            if any(all(values[i] == v for i, v in at) for values in series):
                return True
        return False

    def has_series(self, name: str) -> bool:
        """Whether the store holds any series of ``name`` in scope (of any time)."""
        return self._any_series(name, {})

    def _read(self, name: str, labels: Mapping[str, str]) -> list[Sketch | float]:
        key = (name, tuple(sorted(labels.items())))
        found = self._steps.get(key)
        if found is None and not self._any_series(name, labels):
            found = self._steps[key] = [0.0] * len(self.starts)
        if found is None and self._split:
            found = self._steps[key] = _added([w._read(name, labels) for w in self._parts()])
        if found is None:
            (wanted,) = self._filters(name, labels)
            buckets = self.store.buckets(name, wanted or None, self.start, self.end, self.step_s)
            found = self._steps[key] = self._aligned(buckets)
        return found

    def _aligned(self, buckets: list[Bucket]) -> list[Sketch | float]:
        """One value (or sketch) per step of the window, whatever steps the store listed."""
        if len(buckets) != len(self.starts) or (
            buckets and buckets[0].start_unix_s != self.starts[0]
        ):
            by_start = {b.start_unix_s: b for b in buckets}
            buckets = [by_start.get(s) or Bucket(s, 0.0) for s in self.starts]
        return [b.value if b.sketch is None else b.sketch for b in buckets]

    def counts_by(
        self, name: str, label: str, values: Collection[str] | None = None, **labels: str
    ) -> dict[str, list[float]]:
        """:meth:`counts` per value of ``label`` (or of ``values``), from one read of the store.

        Values with nothing in the window may be missing: read them with :meth:`zeros`. Name
        ``values`` for a label of many values (models): the answer is values times steps.
        """
        only = None if values is None else tuple(sorted(values))
        key = (name, label, only, tuple(sorted(labels.items())))
        found = self._by.get(key)
        if found is None:
            found = self._by[key] = {}
            if self._split:
                for part in self._parts():
                    for value, steps in part.counts_by(name, label, values, **labels).items():
                        held = found.get(value)
                        found[value] = (
                            steps if held is None else [a + b for a, b in zip(held, steps)]  # noqa: B905 (same steps)
                        )
            elif self._any_series(name, labels):
                (wanted,) = self._filters(name, labels)
                per_value = self.store.buckets_by(
                    name,
                    label,
                    wanted or None,
                    start=self.start,
                    end=self.end,
                    step_s=self.step_s,
                    values=only,
                )
                for value, buckets in per_value.items():
                    found[value] = [
                        v if isinstance(v, float) else float(v.count)
                        for v in self._aligned(buckets)
                    ]
        return found

    def zeros(self) -> list[float]:
        """0 for every step (a list shared by the callers: do not change it)."""
        return self._zeros

    def counts(self, name: str, **labels: str) -> list[float]:
        """A counter's increase in every step (a list shared by the callers: do not change it)."""
        key = (name, tuple(sorted(labels.items())))
        found = self._counts.get(key)
        if found is None:
            found = self._counts[key] = [
                v if isinstance(v, float) else float(v.count) for v in self._read(name, labels)
            ]
        return found

    def sketches(self, name: str, **labels: str) -> list[Sketch | None]:
        """A histogram's observations in every step (``None`` for a step without any)."""
        return [v if isinstance(v, Sketch) and v.count else None for v in self._read(name, labels)]

    def total(self, name: str, **labels: str) -> float:
        """A counter's increase over the whole window."""
        return sum(self.counts(name, **labels))

    def coarse_sketches(self, name: str, step_s: int) -> list[tuple[int, Sketch]]:
        """A histogram per step of ``step_s`` (a multiple of the window's step).

        Only the steps wholly inside the window are listed, with their start.
        """
        if step_s == self.step_s:
            return [
                (s, k or Sketch()) for s, k in zip(self.starts, self.sketches(name), strict=True)
            ]
        if not self._any_series(name, {}):
            return []
        first = -(-self.start // step_s) * step_s
        by_start: dict[int, Sketch] = {}
        for wanted in self._filters(name, {}):
            for b in self.store.buckets(name, wanted or None, first, self.end, step_s):
                if b.sketch is None or b.start_unix_s + step_s > self.end:
                    continue
                held = by_start.get(b.start_unix_s)
                if held is None:
                    by_start[b.start_unix_s] = b.sketch
                else:
                    by_start[b.start_unix_s] = _merged(held, b.sketch)
        return sorted(by_start.items())

    def sketch(self, name: str, labels: Mapping[str, str] | None = None) -> Sketch:
        """A histogram's observations over the window (of the series matching ``labels``).

        One read of the store for the whole window (it reads whole coarse buckets where the
        window holds them: see ``plan_range``).
        """
        return self.histogram(name, self.start, self.end, labels)

    def histogram(
        self, name: str, start: int, end: int, labels: Mapping[str, str] | None = None
    ) -> Sketch:
        """A histogram's observations over ``[start, end)`` (the previous period, say)."""
        labels = labels or {}
        key = (name, tuple(sorted(labels.items())), start, end)
        found = self._sketches.get(key)
        if found is None:
            found = Sketch(DEFAULT_RELATIVE_ACCURACY)
            if self._split:
                found = _merged(*(w.histogram(name, start, end, labels) for w in self._parts()))
            elif self._any_series(name, labels):
                (wanted,) = self._filters(name, labels)
                found = self.store.histogram(name, wanted or None, start, end)
            self._sketches[key] = found
        return found

    def sketches_by(self, name: str, label: str) -> dict[str, Sketch]:
        """A histogram's observations over the window, per value of ``label``.

        One read of every series at once (``histograms``), whatever the number of values.
        """
        if not self._any_series(name, {}):
            return {}
        return self.histograms_by(name, label, self.start, self.end)

    def histograms_by(self, name: str, label: str, start: int, end: int) -> dict[str, Sketch]:
        """A histogram's observations over ``[start, end)`` per value of ``label``, in scope."""
        at = label_position(name, label)
        keeps = self.keeps(name)
        out: dict[str, Sketch] = {}
        for labels, sketch in self.store.histograms(name, start, end).items():
            if not sketch.count or not keeps(labels):
                continue
            held = out.get(labels[at])
            if held is None:
                out[labels[at]] = sketch.copy()
            else:
                held.merge(sketch)
        return out

    def counter(self, name: str, start: float | None, end: float | None, **labels: str) -> float:
        """A counter over any range (read from the roll-up the store picks for it)."""
        return sum(
            self.store.counter(name, wanted or None, start, end)
            for wanted in self._filters(name, labels)
        )

    def grouped(
        self, name: str, by: tuple[str, ...], start: int | None = None, end: int | None = None
    ) -> dict[tuple[str, ...], float]:
        """A counter over ``[start, end)`` (the window) added up by the labels ``by``."""
        start = self.start if start is None else start
        end = self.end if end is None else end
        key = (name, start, end)
        per_series = self._grouped.get(key)
        if per_series is None:
            per_series = self.store.counters(name, start, end)
            if self.scoped:
                keeps = self.keeps(name)
                per_series = {k: v for k, v in per_series.items() if keeps(k)}
            self._grouped[key] = per_series
        positions = [label_position(name, label) for label in by]
        out: dict[tuple[str, ...], float] = {}
        for values, amount in per_series.items():
            group = tuple(values[p] for p in positions)
            out[group] = out.get(group, 0.0) + amount
        return out

    def label_values(self, name: str, label: str) -> list[str]:
        """The values ``label`` of metric ``name`` has had (in scope), sorted."""
        at = label_position(name, label)
        keeps = self.keeps(name)
        return sorted({values[at] for values in self.store.series(name) if keeps(values)})


def _merged(*sketches: Sketch) -> Sketch:
    """A new sketch holding all of ``sketches`` (which a store may share: never changed)."""
    union = Sketch(DEFAULT_RELATIVE_ACCURACY)
    for sketch in sketches:
        union.merge(sketch)
    return union


def _added(parts: list[list[Sketch | float]]) -> list[Sketch | float]:
    """Step by step, the sum of counters or the union of histograms of several reads."""
    out: list[Sketch | float] = []
    for values in zip(*parts, strict=True):
        sketches = [v for v in values if isinstance(v, Sketch)]
        if sketches:
            out.append(_merged(*sketches))
        else:
            out.append(sum(v for v in values if isinstance(v, float)))
    return out


def step_bounds(now: float, window_s: int, step_s: int) -> tuple[int, int]:
    """The window of a query made at ``now``: whole steps, the last one holding ``now``."""
    end = bucket_start(now, step_s) + step_s
    return end - window_s, end
