"""One query's window over a store: its steps, its reads, each read once per query.

Everything here goes through the :class:`~agentguard_metrics.store.Store` protocol only, so a
query runs unchanged on any store. An ``agent`` narrows every read: through the store's label
filter for per-step and total reads, and by the ``agent`` position of each series for the
per-series bulk reads (``counters``, ``histograms``, ``gauges``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timezone

from agentguard.metricmap import METRICS, Metric
from agentguard_metrics.batch import bucket_start
from agentguard_metrics.sketch import DEFAULT_RELATIVE_ACCURACY, Sketch
from agentguard_metrics.store import AGENT, Bucket, Store, label_position, series_labels

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
        agent: Only this agent's series, or every agent's with ``None``.
    """

    def __init__(
        self, store: Store, *, start: int, end: int, step_s: int, agent: str | None
    ) -> None:
        self.store = store
        self.start = start
        self.end = end
        self.step_s = step_s
        self.agent = agent
        self.starts = list(range(start, end, step_s))
        self._timestamps: list[str] | None = None
        self._series: dict[str, list[tuple[str, ...]]] = {}
        self._counts: dict[tuple[str, Labels], list[float]] = {}
        self._steps: dict[tuple[str, Labels], list[Sketch | float]] = {}
        self._sketches: dict[tuple[str, Labels, int, int], Sketch] = {}
        self._grouped: dict[tuple[str, int, int], dict[tuple[str, ...], float]] = {}
        self._by: dict[tuple[str, str, tuple[str, ...] | None, Labels], dict[str, list[float]]] = {}
        self._zeros = [0.0] * len(self.starts)

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

    def _filter(self, labels: Mapping[str, str]) -> dict[str, str]:
        return {**labels, AGENT: self.agent} if self.agent is not None else dict(labels)

    def _any_series(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether any series of ``name`` matches ``labels`` (and the agent) at all.

        One ``series`` read per metric and query spares the per-step reads of metrics that
        have nothing (no breaker, no loop, no error of some source): most of them, often.
        """
        series = self._series.get(name)
        if series is None:
            series = self._series[name] = self.store.series(name)
        wanted = [(label_position(name, k), v) for k, v in self._filter(labels).items()]
        return any(all(values[i] == v for i, v in wanted) for values in series)

    def _read(self, name: str, labels: Mapping[str, str]) -> list[Sketch | float]:
        key = (name, tuple(sorted(labels.items())))
        found = self._steps.get(key)
        if found is None and not self._any_series(name, labels):
            found = self._steps[key] = [0.0] * len(self.starts)
        if found is None:
            buckets = self.store.buckets(
                name, self._filter(labels) or None, self.start, self.end, self.step_s
            )
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
            if self._any_series(name, labels):
                per_value = self.store.buckets_by(
                    name,
                    label,
                    self._filter(labels) or None,
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
        buckets = self.store.buckets(name, self._filter({}) or None, first, self.end, step_s)
        return [
            (b.start_unix_s, b.sketch)
            for b in buckets
            if b.sketch is not None and b.start_unix_s + step_s <= self.end
        ]

    def sketch(self, name: str, labels: Mapping[str, str] | None = None) -> Sketch:
        """A histogram's observations over the window (of the series matching ``labels``).

        One read of the store for the whole window (it reads whole coarse buckets where the
        window holds them: see ``plan_range``).
        """
        labels = labels or {}
        key = (name, tuple(sorted(labels.items())), self.start, self.end)
        found = self._sketches.get(key)
        if found is None:
            found = Sketch(DEFAULT_RELATIVE_ACCURACY)
            if self._any_series(name, labels):
                found = self.store.histogram(
                    name, self._filter(labels) or None, self.start, self.end
                )
            self._sketches[key] = found
        return found

    def sketches_by(self, name: str, label: str) -> dict[str, Sketch]:
        """A histogram's observations over the window, per value of ``label``.

        One read of every series at once (``histograms``), whatever the number of values.
        """
        if not self._any_series(name, {}):
            return {}
        at = label_position(name, label)
        agent_at = agent_position(name)
        out: dict[str, Sketch] = {}
        for labels, sketch in self.store.histograms(name, self.start, self.end).items():
            if not sketch.count or (self.agent is not None and labels[agent_at] != self.agent):
                continue
            held = out.get(labels[at])
            if held is None:
                out[labels[at]] = sketch.copy()
            else:
                held.merge(sketch)
        return out

    def counter(self, name: str, start: float | None, end: float | None, **labels: str) -> float:
        """A counter over any range (read from the roll-up the store picks for it)."""
        return self.store.counter(name, self._filter(labels) or None, start, end)

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
            if self.agent is not None:
                at = agent_position(name)
                per_series = {k: v for k, v in per_series.items() if k[at] == self.agent}
            self._grouped[key] = per_series
        positions = [label_position(name, label) for label in by]
        out: dict[tuple[str, ...], float] = {}
        for values, amount in per_series.items():
            group = tuple(values[p] for p in positions)
            out[group] = out.get(group, 0.0) + amount
        return out

    def label_values(self, name: str, label: str) -> list[str]:
        """The values ``label`` of metric ``name`` has had (for this agent), sorted."""
        at = label_position(name, label)
        agent_at = agent_position(name)
        return sorted(
            {
                values[at]
                for values in self.store.series(name)
                if self.agent is None or values[agent_at] == self.agent
            }
        )


def step_bounds(now: float, window_s: int, step_s: int) -> tuple[int, int]:
    """The window of a query made at ``now``: whole steps, the last one holding ``now``."""
    end = bucket_start(now, step_s) + step_s
    return end - window_s, end
