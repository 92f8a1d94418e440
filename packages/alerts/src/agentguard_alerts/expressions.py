"""What a rule measures: expressions over a window of a metric store, per group of labels.

A rule reads the store through :class:`MetricsReader`, a small protocol of its own that
``agentguard_metrics.Store`` (the memory store, the Redis store) satisfies structurally, so
this package does not depend on agentguard-metrics.

Every expression is evaluated over ``[start, end)`` (the rule's window, ending now) and
grouped by the rule's ``by`` labels; each returns ``{group label values: value}``, a value of
``None`` meaning "no data" (no observation, a denominator below ``min_count``), which never
fires. The expressions:

- :class:`Increase`: how much a counter went up in the window;
- :class:`Ratio`: one counter's increase over another's (error rate, success rate, cache hit
  ratio, cost per call);
- :class:`Change`: a counter's increase against the window before, as a fraction (0.2 = +20%);
- :class:`Quantile`: a histogram's quantile (p95 latency);
- :class:`Max`: a histogram's largest observation (the slowest step, the costliest run);
- :class:`Gauge`: a gauge now, whatever the window (a breaker's state).

Label filters (``where``) are ``{label: value}``; for counters a value may also be a list of
values, any of which matches (their increases add up).

A store keeps every series also by ``agent`` (an extra last label for metrics that are not
labelled by agent already), so ``by`` and ``where`` may name ``agent`` on every metric.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from agentguard.metricmap import METRICS, Metric
from agentguard_alerts._check import is_instance, number
from agentguard_alerts.errors import RuleConfigError

__all__ = [
    "Change",
    "Expression",
    "Gauge",
    "HistogramView",
    "Increase",
    "Max",
    "MetricsReader",
    "Quantile",
    "Ratio",
    "label_names",
]

_Group: TypeAlias = tuple[str, ...]
_Where: TypeAlias = tuple[tuple[str, tuple[str, ...]], ...]

_AGENT = "agent"
_METRICS: dict[str, Metric] = {m.name: m for m in METRICS}


class HistogramView(Protocol):
    """What a rule reads of a histogram (``agentguard_metrics.Sketch`` has it)."""

    @property
    def count(self) -> int:
        """How many values were observed."""
        ...

    @property
    def max(self) -> float:
        """The largest observed value (``-inf`` while empty)."""
        ...


class MetricsReader(Protocol):
    """The reads rules need from a metric store; ``agentguard_metrics.Store`` has them all.

    Time ranges are ``start <= t < end`` in Unix seconds; label filters match by equality.
    """

    def counter(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> float:
        """A counter's increase over the matching series and time range."""
        ...

    def quantile(
        self,
        name: str,
        q: float,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> float | None:
        """A histogram's ``q`` quantile, ``None`` when nothing was observed."""
        ...

    def histogram(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> HistogramView:
        """A histogram's merged observations over the matching series and time range."""
        ...

    def gauge(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """A gauge now."""
        ...

    def series(self, name: str) -> list[tuple[str, ...]]:
        """The label values of every series of ``name`` (in :func:`label_names` order)."""
        ...


def label_names(metric: str) -> tuple[str, ...]:
    """The labels a store keeps ``metric`` by: its own, then ``agent`` if it lacks one.

    Raises:
        RuleConfigError: ``metric`` is not in ``agentguard.metricmap.METRICS``.
    """
    found = _METRICS.get(metric)
    if found is None:
        raise RuleConfigError(
            f"unknown metric {metric!r}; see docs/metrics.md (agentguard.metricmap.METRICS)",
            key="metric",
        )
    return found.labels if _AGENT in found.labels else (*found.labels, _AGENT)


def _where(metric: str, where: object, *, key: str, lists: bool) -> _Where:
    if where is None:
        return ()
    if not isinstance(where, Mapping):
        raise RuleConfigError(f"must be a table of label = value, got {where!r}", key=key)
    names = label_names(metric)
    found: list[tuple[str, tuple[str, ...]]] = []
    for label, value in where.items():
        if label not in names:
            raise RuleConfigError(f"{metric} has no label {label!r}; it has {names}", key=key)
        if isinstance(value, str):
            values: tuple[str, ...] = (value,)
        elif (
            lists
            and isinstance(value, Sequence)
            and value
            and all(isinstance(v, str) for v in value)
        ):
            values = tuple(value)
        else:
            wanted = "a string or a non-empty list of strings" if lists else "a string"
            raise RuleConfigError(f"{label} must be {wanted}, got {value!r}", key=key)
        found.append((label, values))
    return tuple(sorted(found))


def _check_type(metric: str, wanted: str, kind: str) -> None:
    label_names(metric)
    actual = _METRICS[metric].type
    if actual != wanted:
        raise RuleConfigError(f"{kind} needs a {wanted}, but {metric} is a {actual}", key="metric")


def _combinations(where: _Where, group: Mapping[str, str]) -> list[dict[str, str]]:
    """Every single-valued filter a filter with lists of values expands into."""
    labels = [label for label, _ in where if label not in group]
    choices = [values for label, values in where if label not in group]
    return [
        {**dict(zip(labels, chosen, strict=True)), **group}
        for chosen in itertools.product(*choices)
    ]


def _groups(reader: MetricsReader, metric: str, where: _Where, by: Sequence[str]) -> set[_Group]:
    """The distinct values of the ``by`` labels among the series ``where`` selects."""
    if not by:
        return {()}
    names = label_names(metric)
    wanted = [(names.index(label), values) for label, values in where]
    positions = [names.index(label) for label in by]
    return {
        tuple(values[i] for i in positions)
        for values in reader.series(metric)
        if all(values[i] in allowed for i, allowed in wanted)
    }


def _check_by(metric: str, by: Sequence[str]) -> None:
    names = label_names(metric)
    for label in by:
        if label not in names:
            raise RuleConfigError(f"{metric} has no label {label!r}; it has {names}", key="by")


class Expression:
    """The base of the expressions: a value per group over a time range."""

    __slots__ = ()

    def metrics(self) -> tuple[str, ...]:
        """The metrics read."""
        raise NotImplementedError

    def check_by(self, by: Sequence[str]) -> None:
        """Raise :class:`RuleConfigError` (key ``by``) when a metric lacks a ``by`` label."""
        for metric in self.metrics():
            _check_by(metric, by)

    def evaluate(
        self, reader: MetricsReader, by: Sequence[str], start: float, end: float
    ) -> dict[_Group, float | None]:
        """The value of each group (``by`` label values) over ``start <= t < end``."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short text for default summaries, like ``p95 of agentguard_tool_...``."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Increase(Expression):
    """How much a counter went up over the window."""

    metric: str
    """A counter of ``agentguard.metricmap``."""
    where: Mapping[str, str | Sequence[str]] | None = None
    """Label filters; a list of values matches any of them."""
    _where: _Where = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_type(self.metric, "counter", "an increase")
        object.__setattr__(self, "_where", _where(self.metric, self.where, key="where", lists=True))

    def metrics(self) -> tuple[str, ...]:
        """The counter read."""
        return (self.metric,)

    def evaluate(
        self, reader: MetricsReader, by: Sequence[str], start: float, end: float
    ) -> dict[_Group, float | None]:
        """The increase of each group over the range (0 for a group seen before, not now)."""
        return {
            group: self.total(reader, dict(zip(by, group, strict=True)), start, end)
            for group in _groups(reader, self.metric, self._where, by)
        }

    def total(
        self, reader: MetricsReader, group: Mapping[str, str], start: float, end: float
    ) -> float:
        """The increase of the series matching the filters and ``group`` over the range."""
        return sum(
            reader.counter(self.metric, labels or None, start, end)
            for labels in _combinations(self._where, group)
        )

    def describe(self) -> str:
        """``increase of <metric>``."""
        return f"increase of {self.metric}"


@dataclass(frozen=True, slots=True)
class Ratio(Expression):
    """One counter's increase over another's; no data while the denominator is small."""

    numerator: Increase
    """What is counted (errors, successes, cache reads)."""
    denominator: Increase
    """What it is counted among (all calls, all input tokens)."""
    min_count: float = 1.0
    """The least denominator increase for a value; below it the ratio is "no data"."""

    def __post_init__(self) -> None:
        if not is_instance(self.numerator, Increase) or not is_instance(self.denominator, Increase):
            raise RuleConfigError("a ratio is of two Increase expressions", key="metric")
        number(self.min_count, "min_count", above=0.0)

    def metrics(self) -> tuple[str, ...]:
        """The two counters read."""
        return (self.numerator.metric, self.denominator.metric)

    def evaluate(
        self, reader: MetricsReader, by: Sequence[str], start: float, end: float
    ) -> dict[_Group, float | None]:
        """Numerator over denominator per group, ``None`` below ``min_count``."""
        groups = _groups(reader, self.denominator.metric, self.denominator._where, by)
        found: dict[_Group, float | None] = {}
        for group in groups:
            labels = dict(zip(by, group, strict=True))
            below = self.denominator.total(reader, labels, start, end)
            if below < self.min_count or below <= 0:
                found[group] = None
            else:
                found[group] = self.numerator.total(reader, labels, start, end) / below
        return found

    def describe(self) -> str:
        """``<numerator> / <denominator>``."""
        return f"ratio of {self.numerator.metric} to {self.denominator.metric}"


@dataclass(frozen=True, slots=True)
class Change(Expression):
    """A counter's increase over the window against the window before it, as a fraction."""

    increase: Increase
    """The counter compared."""
    min_previous: float = 0.0
    """The least increase in the previous window for a value (below: no data)."""

    def __post_init__(self) -> None:
        if not is_instance(self.increase, Increase):
            raise RuleConfigError("a change is of an Increase expression", key="metric")
        number(self.min_previous, "min_previous", least=0.0)

    def metrics(self) -> tuple[str, ...]:
        """The counter read."""
        return (self.increase.metric,)

    def evaluate(
        self, reader: MetricsReader, by: Sequence[str], start: float, end: float
    ) -> dict[_Group, float | None]:
        """``(now - before) / before`` per group; ``None`` when ``before`` is too small."""
        width = end - start
        found: dict[_Group, float | None] = {}
        for group in _groups(reader, self.increase.metric, self.increase._where, by):
            labels = dict(zip(by, group, strict=True))
            before = self.increase.total(reader, labels, start - width, start)
            if before <= 0 or before < self.min_previous:
                found[group] = None
                continue
            found[group] = (self.increase.total(reader, labels, start, end) - before) / before
        return found

    def describe(self) -> str:
        """``change of <metric>``."""
        return f"change of {self.increase.metric} against the window before"


@dataclass(frozen=True, slots=True)
class Quantile(Expression):
    """A histogram's quantile over the window."""

    metric: str
    """A histogram of ``agentguard.metricmap``."""
    q: float
    """The quantile, in (0, 1]: 0.95 for p95."""
    where: Mapping[str, str] | None = None
    """Label filters."""
    _where: _Where = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_type(self.metric, "histogram", "a quantile")
        if not 0 < number(self.q, "q") <= 1:
            raise RuleConfigError(f"must be in (0, 1], got {self.q!r}", key="q")
        object.__setattr__(
            self, "_where", _where(self.metric, self.where, key="where", lists=False)
        )

    def metrics(self) -> tuple[str, ...]:
        """The histogram read."""
        return (self.metric,)

    def evaluate(
        self, reader: MetricsReader, by: Sequence[str], start: float, end: float
    ) -> dict[_Group, float | None]:
        """The quantile of each group, ``None`` when it observed nothing."""
        fixed = {label: values[0] for label, values in self._where}
        return {
            group: reader.quantile(
                self.metric,
                self.q,
                {**fixed, **dict(zip(by, group, strict=True))} or None,
                start,
                end,
            )
            for group in _groups(reader, self.metric, self._where, by)
        }

    def describe(self) -> str:
        """``p95 of <metric>``."""
        return f"p{self.q * 100:g} of {self.metric}"


@dataclass(frozen=True, slots=True)
class Max(Expression):
    """A histogram's largest observation over the window."""

    metric: str
    """A histogram of ``agentguard.metricmap``."""
    where: Mapping[str, str] | None = None
    """Label filters."""
    _where: _Where = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_type(self.metric, "histogram", "a max")
        object.__setattr__(
            self, "_where", _where(self.metric, self.where, key="where", lists=False)
        )

    def metrics(self) -> tuple[str, ...]:
        """The histogram read."""
        return (self.metric,)

    def evaluate(
        self, reader: MetricsReader, by: Sequence[str], start: float, end: float
    ) -> dict[_Group, float | None]:
        """The largest value of each group, ``None`` when it observed nothing."""
        fixed = {label: values[0] for label, values in self._where}
        found: dict[_Group, float | None] = {}
        for group in _groups(reader, self.metric, self._where, by):
            labels = {**fixed, **dict(zip(by, group, strict=True))}
            seen = reader.histogram(self.metric, labels or None, start, end)
            found[group] = seen.max if seen.count and math.isfinite(seen.max) else None
        return found

    def describe(self) -> str:
        """``max of <metric>``."""
        return f"max of {self.metric}"


@dataclass(frozen=True, slots=True)
class Gauge(Expression):
    """A gauge's value now (the window does not apply)."""

    metric: str
    """A gauge of ``agentguard.metricmap``."""
    where: Mapping[str, str] | None = None
    """Label filters."""
    _where: _Where = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_type(self.metric, "gauge", "a gauge rule")
        object.__setattr__(
            self, "_where", _where(self.metric, self.where, key="where", lists=False)
        )

    def metrics(self) -> tuple[str, ...]:
        """The gauge read."""
        return (self.metric,)

    def evaluate(
        self, reader: MetricsReader, by: Sequence[str], start: float, end: float
    ) -> dict[_Group, float | None]:
        """The gauge of each group now."""
        fixed = {label: values[0] for label, values in self._where}
        return {
            group: reader.gauge(self.metric, {**fixed, **dict(zip(by, group, strict=True))} or None)
            for group in _groups(reader, self.metric, self._where, by)
        }

    def describe(self) -> str:
        """``<metric>``."""
        return self.metric
