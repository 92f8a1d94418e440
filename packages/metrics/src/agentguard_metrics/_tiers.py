"""Which roll-up a store reads a range at, and label filters: shared by every store."""

from __future__ import annotations

from collections.abc import Mapping

from agentguard.metricmap import METRICS
from agentguard_metrics.store import ROLLUPS, Rollup, series_labels

_LABELS: dict[str, tuple[str, ...]] = {m.name: series_labels(m) for m in METRICS}
_TYPES: dict[str, str] = {m.name: m.type for m in METRICS}

TOTAL: tuple[str, ...] = ()
"""The label values a store keeps the sum of every series of a metric under.

No series has them (every series has at least its ``agent``), so a read without a label
filter takes one cell per bucket instead of adding up every series."""


def is_histogram(name: str) -> bool:
    """Whether metric ``name`` is a histogram."""
    return _TYPES.get(name) == "histogram"


def label_names(name: str) -> tuple[str, ...]:
    """The label names a store keeps for ``name``; ``ValueError`` for an unknown metric."""
    try:
        return _LABELS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; see agentguard.metricmap.METRICS") from None


def matcher(name: str, labels: Mapping[str, str] | None) -> tuple[tuple[int, str], ...]:
    """``(position, value)`` pairs a series' label values must have to match ``labels``."""
    names = label_names(name)
    if not labels:
        return ()
    unknown = set(labels) - set(names)
    if unknown:
        raise ValueError(f"{name} has no label(s) {sorted(unknown)}; its labels are {names}")
    return tuple((names.index(k), v) for k, v in labels.items())


def matches(values: tuple[str, ...], wanted: tuple[tuple[int, str], ...]) -> bool:
    """Whether label ``values`` satisfy a :func:`matcher`."""
    return all(values[i] == v for i, v in wanted)


def rollup_for(start: float | None, now: float, step_s: int | None = None) -> Rollup:
    """The roll-up to read from ``start`` on: the coarsest one when ``start`` is ``None``.

    With ``step_s``, the coarsest roll-up whose resolution divides ``step_s`` and that still
    holds ``start`` (fewest buckets to add up); otherwise the finest that holds ``start``.
    """
    if start is None:
        return ROLLUPS[-1]
    holding = [r for r in ROLLUPS if r.retention_s is None or start >= now - r.retention_s]
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
