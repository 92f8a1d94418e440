"""Checks of options whose static types a caller (or a TOML file) may not have respected."""

from __future__ import annotations

import math

from agentguard_alerts.errors import RuleConfigError


def number(
    value: object, key: str, *, least: float | None = None, above: float | None = None
) -> float:
    """``value`` as a finite number (not a bool), at least ``least`` or above ``above``.

    Raises:
        RuleConfigError: naming ``key``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RuleConfigError(f"must be a finite number, got {value!r}", key=key)
    if least is not None and value < least:
        raise RuleConfigError(f"must be >= {least:g}, got {value!r}", key=key)
    if above is not None and value <= above:
        raise RuleConfigError(f"must be > {above:g}, got {value!r}", key=key)
    return float(value)


def is_instance(value: object, cls: type | tuple[type, ...]) -> bool:
    """``isinstance``, through ``object`` so that a check of a typed option type-checks."""
    return isinstance(value, cls)
