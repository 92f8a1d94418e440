"""Statistics of sketches and numbers, as every section of a query reports them."""

from __future__ import annotations

from agentguard.limits import admits_total
from agentguard_metrics.sketch import Sketch

_QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def count(value: float) -> int | None:
    """A count read as a float (stores keep floats), as the integer it is (``round``).

    ``None`` (JSON ``null``) for a total no honest count can be (:func:`amount`).
    """
    return round(value) if admits_total(value) else None


def amount(value: float) -> float | None:
    """``value``, or ``None`` when it is refused: NaN, infinite or past ``MAX_TOTAL``.

    Stores refuse such sums on write (:mod:`agentguard.limits`), but a total written before
    they did (``1e308`` added twice is infinity) stays in Redis: it is read as refused, never
    served, so a JSON answer never holds ``Infinity`` or ``NaN``.
    """
    return value if admits_total(value) else None


def stat(sketch: Sketch | None, how: str) -> float | None:
    """``avg``, ``sum``, ``min``, ``max``, ``p50``, ``p95`` or ``p99`` of the observations."""
    if sketch is None or sketch.count == 0:
        return None
    if how == "avg":
        return sketch.sum / sketch.count
    if how == "sum":
        return sketch.sum
    if how == "min":
        return sketch.min
    if how == "max":
        return sketch.max
    return sketch.quantile(_QUANTILES[how])


def union_stat(a: Sketch | None, b: Sketch | None, how: str) -> float | None:
    """:func:`stat` of the union of two sketches; merges them only for a quantile."""
    if a is None or not a.count:
        return stat(b, how)
    if b is None or not b.count:
        return stat(a, how)
    if how == "avg":
        return (a.sum + b.sum) / (a.count + b.count)
    if how == "sum":
        return a.sum + b.sum
    if how == "min":
        return min(a.min, b.min)
    if how == "max":
        return max(a.max, b.max)
    return stat(merged(a, b), how)


def point_stat(
    a: Sketch | None, b: Sketch | None, aggregation: str
) -> float | dict[str, float | None] | None:
    """A latency point of the union of ``a`` and ``b`` (``b`` may be ``None``).

    One aggregation (``p95``) gives its figure, as :func:`union_stat`; a list (``p50,p95,p99``)
    gives ``{"p50": ..., "p95": ..., "p99": ...}``, every statistic of one merged sketch.
    """
    if "," not in aggregation:
        return union_stat(a, b, aggregation)
    union = merged(a, b)
    return {how: stat(union, how) for how in aggregation.split(",")}


def merged(*sketches: Sketch | None) -> Sketch | None:
    """The union of the given sketches (``None`` when all are empty), for reading only.

    The inputs are never changed; when only one is not empty, it is returned itself.
    """
    found = [s for s in sketches if s is not None and s.count]
    if len(found) <= 1:
        return found[0] if found else None
    union = found[0].copy()
    for sketch in found[1:]:
        union.merge(sketch)
    return union


def ratio(part: float, whole: float) -> float | None:
    """``part / whole``, or ``None`` when ``whole`` is 0."""
    return part / whole if whole else None


def percent(part: float, whole: float) -> float | None:
    """``100 * part / whole``, or ``None`` when ``whole`` is 0."""
    return 100.0 * part / whole if whole else None


def latency_stats(sketch: Sketch | None) -> dict[str, float | None]:
    """``averageLatency``, ``p95Latency`` and ``p99Latency`` of a sketch, in seconds."""
    return {
        "averageLatency": _refused(stat(sketch, "avg")),
        "p95Latency": _refused(stat(sketch, "p95")),
        "p99Latency": _refused(stat(sketch, "p99")),
    }


def _refused(value: float | None) -> float | None:
    return None if value is None else amount(value)
