"""What a rule measures: expressions over a window of a metric store, per group of labels.

Each expression reads ``[start, end)`` (the rule's window, ending now) through
``agentguard_metrics.Store``, grouped by the rule's ``by`` labels, and returns ``{group label
values: value}``: :class:`Increase`, :class:`Ratio`, :class:`Change`, :class:`Quantile`,
:class:`Max`, :class:`Gauge` (now, whatever the window). ``where`` filters are ``{label:
value}``, for counters also a list of values whose increases add up; ``by`` and ``where`` may
name ``agent`` on every metric.

The trap: ``None`` means no data (no observation, a denominator below ``min_count``) and never
fires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentguard.metricmap import METRICS
from agentguard_alerts._check import is_instance, number
from agentguard_alerts.errors import RuleConfigError
from agentguard_alerts.reader import (
    Group,
    Where,
    group_histograms,
    group_sums,
    group_values,
    label_names,
)
from agentguard_metrics import Sketch, Store

__all__ = [
    "Change",
    "Expression",
    "Gauge",
    "Increase",
    "Max",
    "Quantile",
    "Ratio",
]

_TYPES: dict[str, str] = {m.name: m.type for m in METRICS}


def _where(metric: str, where: object, *, key: str, lists: bool) -> Where:
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
    actual = _TYPES[metric]
    if actual != wanted:
        raise RuleConfigError(f"{kind} needs a {wanted}, but {metric} is a {actual}", key="metric")


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
        self, reader: Store, by: Sequence[str], start: float, end: float
    ) -> dict[Group, float | None]:
        """The value of each group (``by`` label values) over ``start <= t < end``."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short text for default summaries, like ``p95 of agentguard_tool_...``."""
        raise NotImplementedError


class _OneMetric(Expression):
    """An expression over one metric with label filters (``metric``, ``where``, ``_where``)."""

    __slots__ = ()
    metric: str
    where: Mapping[str, Any] | None

    def _bind(self, kind: str, what: str, *, lists: bool) -> None:
        """Check the metric is a ``kind`` and read the filters (in ``__post_init__``)."""
        _check_type(self.metric, kind, what)
        object.__setattr__(
            self, "_where", _where(self.metric, self.where, key="where", lists=lists)
        )

    def metrics(self) -> tuple[str, ...]:
        """The metric read."""
        return (self.metric,)


@dataclass(frozen=True, slots=True)
class Increase(_OneMetric):
    """How much a counter went up over the window."""

    metric: str
    """A counter of ``agentguard.metricmap``."""
    where: Mapping[str, str | Sequence[str]] | None = None
    """Label filters; a list of values matches any of them."""
    _where: Where = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._bind("counter", "an increase", lists=True)

    def evaluate(
        self, reader: Store, by: Sequence[str], start: float, end: float
    ) -> dict[Group, float | None]:
        """The increase of each group over the range."""
        return dict(self.sums(reader, by, start, end))

    def sums(
        self, reader: Store, by: Sequence[str], start: float, end: float
    ) -> dict[Group, float]:
        """The increase of each group of the series the filters select, over the range."""
        return group_sums(reader, self.metric, self._where, by, start=start, end=end)

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
        self, reader: Store, by: Sequence[str], start: float, end: float
    ) -> dict[Group, float | None]:
        """Numerator over denominator per group, ``None`` below ``min_count``."""
        above = self.numerator.sums(reader, by, start, end)
        below = self.denominator.sums(reader, by, start, end)
        return {
            group: None if total < self.min_count or total <= 0 else above.get(group, 0.0) / total
            for group, total in below.items()
        }

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
        self, reader: Store, by: Sequence[str], start: float, end: float
    ) -> dict[Group, float | None]:
        """``(now - before) / before`` per group; ``None`` when ``before`` is too small."""
        before = self.increase.sums(reader, by, start - (end - start), start)
        now = self.increase.sums(reader, by, start, end)
        return {
            group: None
            if earlier <= 0 or earlier < self.min_previous
            else (now.get(group, 0.0) - earlier) / earlier
            for group, earlier in before.items()
        }

    def describe(self) -> str:
        """``change of <metric>``."""
        return f"change of {self.increase.metric} against the window before"


@dataclass(frozen=True, slots=True)
class Quantile(_OneMetric):
    """A histogram's quantile over the window."""

    metric: str
    """A histogram of ``agentguard.metricmap``."""
    q: float
    """The quantile, in (0, 1]: 0.95 for p95."""
    where: Mapping[str, str] | None = None
    """Label filters."""
    _where: Where = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._bind("histogram", "a quantile", lists=False)
        if not 0 < number(self.q, "q") <= 1:
            raise RuleConfigError(f"must be in (0, 1], got {self.q!r}", key="q")

    def evaluate(
        self, reader: Store, by: Sequence[str], start: float, end: float
    ) -> dict[Group, float | None]:
        """The quantile of each group, ``None`` when it observed nothing."""
        if not by and not self._where:
            return {(): reader.quantile(self.metric, self.q, None, start, end)}
        merged = group_histograms(reader, self.metric, self._where, by, start=start, end=end)
        return {group: view.quantile(self.q) for group, view in merged.items()}

    def describe(self) -> str:
        """``p95 of <metric>``."""
        return f"p{self.q * 100:g} of {self.metric}"


@dataclass(frozen=True, slots=True)
class Max(_OneMetric):
    """A histogram's largest observation over the window."""

    metric: str
    """A histogram of ``agentguard.metricmap``."""
    where: Mapping[str, str] | None = None
    """Label filters."""
    _where: Where = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._bind("histogram", "a max", lists=False)

    def evaluate(
        self, reader: Store, by: Sequence[str], start: float, end: float
    ) -> dict[Group, float | None]:
        """The largest value of each group, ``None`` when it observed nothing."""
        if not by and not self._where:
            seen: dict[Group, list[Sketch]] = {
                (): [reader.histogram(self.metric, None, start, end)]
            }
        else:
            seen = group_values(
                self.metric, self._where, by, reader.histograms(self.metric, start, end)
            )
        return {
            group: max((v.max for v in views if v.count), default=None)
            for group, views in seen.items()
        }

    def describe(self) -> str:
        """``max of <metric>``."""
        return f"max of {self.metric}"


@dataclass(frozen=True, slots=True)
class Gauge(_OneMetric):
    """A gauge's value now (the window does not apply)."""

    metric: str
    """A gauge of ``agentguard.metricmap``."""
    where: Mapping[str, str] | None = None
    """Label filters."""
    _where: Where = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._bind("gauge", "a gauge rule", lists=False)

    def evaluate(
        self, reader: Store, by: Sequence[str], start: float, end: float
    ) -> dict[Group, float | None]:
        """The gauge of each group now (the sum of its series)."""
        if not by and not self._where:
            return {(): reader.gauge(self.metric)}
        selected = group_values(self.metric, self._where, by, reader.gauges(self.metric))
        return {group: sum(values) for group, values in selected.items()}

    def describe(self) -> str:
        """``<metric>``."""
        return self.metric
