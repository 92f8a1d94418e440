"""The time a window's spending actually covers: what the burn rate and projection divide by.

A 10-second demo asked with ``timeframe=1h`` spent its dollars in 10 seconds, not in an hour;
dividing by the hour asked for made the projection depend on the timeframe. The span runs from
the start of the first 1-minute bucket with spending in the window to now, at least one such
bucket (docs/architecture.md, "One definition for each figure").
"""

from __future__ import annotations

from agentguard_metrics.batch import BASE_RESOLUTION_S
from agentguard_metrics.store import ROLLUPS
from agentguard_service._window import Window

_FINEST_KEPT_S = ROLLUPS[0].retention_s or 0


def covered_s(w: Window, name: str, per_step: list[float], now: float) -> float:
    """Seconds from the first 1-minute bucket of ``name`` with anything in the window to now.

    ``per_step`` is the counter per step of the window (already read). A step wider than a
    minute is read again at one minute, where the store still keeps that resolution, so every
    timeframe finds the same start. 0 when the window holds nothing.
    """
    first = next((i for i, v in enumerate(per_step) if v), None)
    if first is None:
        return 0.0
    start = w.starts[first]
    if w.step_s > BASE_RESOLUTION_S and start >= now - _FINEST_KEPT_S + w.step_s:
        firsts = [
            next((b.start_unix_s for b in fine if b.value), start)
            for fine in (
                w.store.buckets(name, f or None, start, start + w.step_s, BASE_RESOLUTION_S)
                for f in w.series_filters(name)
            )
        ]
        start = min(firsts, default=start)
    return max(now - start, float(BASE_RESOLUTION_S))
