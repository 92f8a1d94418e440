"""``Rule``: a threshold over an expression, a window, a ``for`` duration, labels and text.

::

    Rule(name="SlowSearch", op=">", threshold=2.0, window_s=300, for_s=120, by=("agent",),
         expr=Quantile("agentguard_tool_call_duration_seconds", 0.95, where={"tool": "search"}),
         summary="p95 of search for $agent is $value s (over $threshold s)")

A rule holds for a group when ``value <op> threshold``, fires once it held ``for_s`` seconds at
every evaluation, and resolves when it does not hold or has no data. Windows are whole minutes
plus the current one so far. Texts are :class:`string.Template` (``$value``, ``$threshold``,
``$rule``, ``$severity``, ``$window``, the labels): they cannot reach attributes or call
anything, as ``str.format`` could.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from string import Template
from typing import Final, Literal, TypeAlias

from agentguard_alerts._check import is_instance, number
from agentguard_alerts.errors import RuleConfigError
from agentguard_alerts.expressions import Expression
from agentguard_metrics import Store

__all__ = [
    "COMPARISONS",
    "SEVERITIES",
    "Comparison",
    "Rule",
    "Severity",
    "format_value",
]

Comparison: TypeAlias = Literal[">", ">=", "<", "<=", "==", "!="]
"""How a rule's value is compared with its threshold."""
Severity: TypeAlias = Literal["info", "warning", "critical"]
"""The ``severity`` label of an alert."""

COMPARISONS: Final[Mapping[str, Callable[[float, float], bool]]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
"""The comparisons a rule may use."""
SEVERITIES: Final = ("info", "warning", "critical")
"""The severities a rule may have."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_:.-]{0,127}")
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_RESERVED = frozenset({"alertname", "severity"})
_FIXED_IDENTIFIERS = frozenset({"value", "threshold", "rule", "severity", "window"})


def format_value(value: float | None) -> str:
    """A value as alerts show it: four significant digits, ``none`` for no data."""
    return "none" if value is None else f"{value:.4g}"


def _identifiers(template: str) -> list[str]:
    """The names a template uses (``Template.get_identifiers`` is 3.11+)."""
    names = []
    for match in Template.pattern.finditer(template):
        if match.group("invalid") is not None:
            raise ValueError(f"a lone or malformed '$' at position {match.start()}")
        name = match.group("named") or match.group("braced")
        if name is not None:
            names.append(name)
    return names


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One alert rule. Every option is checked when the rule is made.

    Raises:
        RuleConfigError: naming the rule and the key at fault.
    """

    name: str
    """The rule's name: the ``alertname`` label of its alerts; unique among the rules run."""
    expr: Expression
    """What is measured."""
    threshold: float
    """What the value is compared with."""
    op: Comparison = ">"
    """How: the rule holds when ``value <op> threshold``."""
    window_s: int = 300
    """The sliding window, in seconds; a whole number of minutes."""
    for_s: float = 0.0
    """How long the rule must hold before its alert fires; 0 fires at once."""
    by: tuple[str, ...] = ()
    """Labels to evaluate separately by (one alert per agent, per model, ...)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels on the rule's alerts (``team``, ``service``, ...)."""
    severity: Severity = "warning"
    """The ``severity`` label."""
    summary: str = ""
    """The ``summary`` annotation template; a default one says what crossed what."""
    description: str = ""
    """The ``description`` annotation template (left out when empty)."""
    repeat_interval_s: float | None = None
    """Notify a still-firing alert again after this long; ``None``: the evaluator's default."""

    def __post_init__(self) -> None:
        if not is_instance(self.name, str) or not _NAME.fullmatch(self.name):
            raise RuleConfigError(
                "a rule name is a letter or _ then letters, digits, _ : . - (at most 128)",
                rule=str(self.name),
                key="name",
            )
        try:
            self._check()
        except RuleConfigError as exc:
            if exc.rule is not None:
                raise
            raise RuleConfigError(exc.reason, rule=self.name, key=exc.key) from None

    def _check(self) -> None:  # noqa: PLR0912 (one check per option, in order)
        if not is_instance(self.expr, Expression):
            raise RuleConfigError(f"must be an expression, got {self.expr!r}", key="expr")
        number(self.threshold, "threshold")
        if self.op not in COMPARISONS:
            raise RuleConfigError(f"must be one of {' '.join(COMPARISONS)}", key="op")
        window = self.window_s
        if not is_instance(window, int) or is_instance(window, bool) or window < 60 or window % 60:
            raise RuleConfigError(
                f"must be a whole number of minutes (the store's buckets are 1 minute), "
                f"got {window!r} s",
                key="window",
            )
        number(self.for_s, "for", least=0.0)
        if self.repeat_interval_s is not None:
            number(self.repeat_interval_s, "repeat_interval", above=0.0)
        if is_instance(self.by, str) or not is_instance(self.by, (list, tuple)):
            raise RuleConfigError("must be a list of label names", key="by")
        object.__setattr__(self, "by", tuple(self.by))
        self.expr.check_by(self.by)
        if self.severity not in SEVERITIES:
            raise RuleConfigError(f"must be one of {', '.join(SEVERITIES)}", key="severity")
        if not is_instance(self.labels, Mapping):
            raise RuleConfigError("must be a table of label = value", key="labels")
        for label, value in self.labels.items():
            if not is_instance(label, str) or not _LABEL.fullmatch(label):
                raise RuleConfigError(f"{label!r} is not a label name", key="labels")
            if label in _RESERVED or label in self.by:
                raise RuleConfigError(f"{label!r} is set by the rule itself", key="labels")
            if not is_instance(value, str):
                raise RuleConfigError(f"{label} must be a string, got {value!r}", key="labels")
        object.__setattr__(self, "labels", dict(self.labels))
        known = _FIXED_IDENTIFIERS | set(self.by) | set(self.labels)
        for key in ("summary", "description"):
            template: object = getattr(self, key)
            if not isinstance(template, str):
                raise RuleConfigError("must be a string", key=key)
            try:
                names = _identifiers(template)
            except ValueError as exc:
                raise RuleConfigError(f"{exc} (write $$ for a dollar sign)", key=key) from None
            unknown = sorted(set(names) - known)
            if unknown:
                raise RuleConfigError(
                    f"unknown placeholder(s) {', '.join('$' + n for n in unknown)}; "
                    f"known: {', '.join('$' + n for n in sorted(known))}",
                    key=key,
                )

    def holds(self, value: float | None) -> bool:
        """Whether the rule holds for ``value`` (never for no data)."""
        return value is not None and COMPARISONS[self.op](value, self.threshold)

    def evaluate(self, reader: Store, now_s: float) -> dict[tuple[str, ...], float | None]:
        """The value of each group over the window: its minutes before ``now_s``'s, and that one.

        Ranges are in whole minutes (the store's buckets), so the current minute is read as
        far as it goes and the window covers between ``window_s`` and ``window_s + 60`` s.
        """
        current = now_s - now_s % 60
        return self.expr.evaluate(reader, self.by, current - self.window_s, current + 60)

    def alert_labels(self, group: tuple[str, ...]) -> dict[str, str]:
        """The labels of the alert for ``group``: alertname, severity, rule labels, group."""
        return {
            "alertname": self.name,
            "severity": self.severity,
            **self.labels,
            **dict(zip(self.by, group, strict=True)),
        }

    def annotations(self, value: float | None, labels: Mapping[str, str]) -> dict[str, str]:
        """``summary`` (and ``description`` when set), their placeholders replaced."""
        names = {
            **labels,
            "value": format_value(value),
            "threshold": format_value(self.threshold),
            "rule": self.name,
            "severity": self.severity,
            "window": _duration(self.window_s),
        }
        summary = self.summary or (
            f"{self.name}: {self.expr.describe()} over $window is $value ({self.op} $threshold)"
        )
        found = {"summary": Template(summary).safe_substitute(names)}
        if self.description:
            found["description"] = Template(self.description).safe_substitute(names)
        return found
