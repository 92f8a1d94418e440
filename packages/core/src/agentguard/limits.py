"""The sane, finite range of every numeric event field, and of a sum: the one table of limits.

A value outside its range is a bug, not a measurement: it is refused and counted, never
summed. Producers check whole events with :func:`invalid_field` before publishing; every
subscriber that sums checks each amount against :func:`limit_for` (the compiled handlers of
:mod:`agentguard.compiler` do) and each sum against :func:`admits_total`. Ranges go by the unit
in the field's name (DESIGN.md section 3): ``*_usd``, ``*_tokens`` and counts 0..1e9, ``*_s``
0..1e7 (not ``at_unix_s``), ``*_ratio`` 0..1; any sum stays within ``+-MAX_TOTAL`` (2**53).
Why each bound, and why refuse early: docs/architecture.md, "The core".
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from agentguard import events
from agentguard.events import EVENT_TYPES, Event

__all__ = ["LIMITS", "MAX_TOTAL", "Limit", "admits_total", "invalid_field", "limit_for"]

MAX_TOTAL: Final = float(2**53)
"""The largest magnitude of a sum: past it a float cannot count one by one."""


@dataclass(frozen=True, slots=True)
class Limit:
    """The closed range ``low <= value <= high`` a field's values must fall in."""

    low: float
    """The smallest value admitted."""
    high: float
    """The largest value admitted."""

    def admits(self, value: object) -> bool:
        """Whether ``value`` is a number in range (NaN, infinities and non-numbers are not)."""
        try:
            return bool(self.low <= value <= self.high)  # type: ignore[operator]  # any value
        except TypeError:
            return False


_USD: Final = Limit(0.0, 1e9)
_TOKENS: Final = Limit(0.0, 1e9)
_SECONDS: Final = Limit(0.0, 1e7)
_COUNT: Final = Limit(0.0, 1e9)
_RATIO: Final = Limit(0.0, 1.0)
_COUNTS: Final = frozenset({"retries", "repeats", "failure_count"})
_UNLIMITED: Final = frozenset({"at_unix_s", "value", "status_code"})
"""Numbers that are not amounts: a time stamp, an alert's value, an HTTP status."""


def limit_for(name: str) -> Limit | None:
    """The range of the numeric field ``name`` (by its unit), or ``None`` if it has none."""
    if name in _UNLIMITED:
        return None
    if name.endswith("_usd"):
        return _USD
    if name.endswith("_tokens"):
        return _TOKENS
    if name.endswith("_s"):
        return _SECONDS
    if name.endswith("_ratio"):
        return _RATIO
    if name in _COUNTS or name.endswith("_requests"):
        return _COUNT
    return None


def _numeric(hint: object) -> bool:
    """Whether a field's type is a number (``int``, ``float``, optional or not; not ``bool``)."""
    args = typing.get_args(hint) or (hint,)
    return any(arg in (int, float) for arg in args)


def _limited(cls: type[Event]) -> tuple[tuple[str, Limit], ...]:
    hints = typing.get_type_hints(cls, vars(events))
    found: list[tuple[str, Limit]] = []
    for item in dataclasses.fields(cls):
        limit = limit_for(item.name)
        if limit is not None and _numeric(hints[item.name]):
            found.append((item.name, limit))
    return tuple(found)


_BY_CLASS: Final = {cls: _limited(cls) for cls in EVENT_TYPES}

LIMITS: Final[Mapping[str, Limit]] = MappingProxyType(
    {name: limit for fields in _BY_CLASS.values() for name, limit in fields}
)
"""Every numeric field of the catalog that has a range, by name."""


def invalid_field(event: Event) -> str | None:
    """The name of the first field of ``event`` out of its range, or ``None`` if all are in.

    A field that is ``None`` (not known, not priced) is in range.
    """
    for name, limit in _BY_CLASS[event.__class__]:
        value = getattr(event, name)
        if value is not None and not limit.admits(value):
            return name
    return None


def admits_total(value: float) -> bool:
    """Whether ``value`` is a sum a store may keep: finite and within ``+-MAX_TOTAL``."""
    return -MAX_TOTAL <= value <= MAX_TOTAL
