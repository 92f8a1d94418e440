"""Context size (every input token of a call) per model and per agent: current, max, p95.

Read from the ``agentguard_llm_context_tokens`` histogram. *current* is the largest context of
the latest step that had calls (a context grows within a run, so that step's largest is its
latest state); *max* and *p95* cover the window (the query) or all time (the snapshot). p95 is
the sketch's (linear interpolation, within its relative accuracy).
"""

from __future__ import annotations

from collections.abc import Iterable

from agentguard.metricmap import AGENT, LLM_CONTEXT
from agentguard_metrics.batch import BASE_RESOLUTION_S
from agentguard_metrics.sketch import Sketch
from agentguard_metrics.store import Bucket, Store, label_position
from agentguard_service._window import Window

__all__ = ["query_context", "snapshot_context"]

Sizes = dict[str, dict[str, dict[str, int | None]]]
"""``{"byModel": {model: figures}, "byAgent": {agent: figures}}``."""

_LABELS = (("byModel", "model"), ("byAgent", AGENT))
_RECENT_S = 3600


def query_context(w: Window) -> Sizes:
    """The ``context`` section of a query: per model and agent over the window's steps."""
    out: Sizes = {}
    for key, label in _LABELS:
        per_value = _scoped_steps(w, label)
        out[key] = {
            value: _figures(_merged(b.sketch for b in steps), _current(steps))
            for value, steps in sorted(per_value.items())
            if value and any(b.sketch is not None and b.sketch.count for b in steps)
        }
    return out


def snapshot_context(store: Store, now: float) -> Sizes:
    """The snapshot's ``context_tokens``: max and p95 of all time, current of the last hour."""
    every = store.histograms(LLM_CONTEXT.name)
    start = int(now - _RECENT_S) // BASE_RESOLUTION_S * BASE_RESOLUTION_S
    out: Sizes = {}
    for key, label in _LABELS:
        at = label_position(LLM_CONTEXT.name, label)
        whole: dict[str, Sketch] = {}
        for values, sketch in every.items():
            if values[at] and sketch.count:
                held = whole.get(values[at])
                if held is None:
                    whole[values[at]] = sketch.copy()
                else:
                    held.merge(sketch)
        recent = _steps(
            store, label, {}, start=start, end=now + BASE_RESOLUTION_S, step_s=BASE_RESOLUTION_S
        )
        out[key] = {
            value: _figures(sketch, _current(recent.get(value, [])))
            for value, sketch in sorted(whole.items())
        }
    return out


def _scoped_steps(w: Window, label: str) -> dict[str, list[Bucket]]:
    """Per value of ``label``, the window's steps with calls, over the agents it reads."""
    filters = w.series_filters(LLM_CONTEXT.name)
    found = [_steps(w.store, label, f, start=w.start, end=w.end, step_s=w.step_s) for f in filters]
    if len(found) == 1:
        return found[0]
    per_start: dict[str, dict[int, Sketch]] = {}
    for per_value in found:  # several agents: their sketches merged step by step
        for value, steps in per_value.items():
            held = per_start.setdefault(value, {})
            for b in steps:
                if b.sketch is None or not b.sketch.count:
                    continue
                if b.start_unix_s in held:
                    held[b.start_unix_s].merge(b.sketch)
                else:
                    held[b.start_unix_s] = b.sketch.copy()
    return {
        value: [Bucket(at, float(s.count), s) for at, s in sorted(held.items())]
        for value, held in per_start.items()
    }


def _steps(
    store: Store, label: str, wanted: dict[str, str], *, start: float, end: float, step_s: int
) -> dict[str, list[Bucket]]:
    return store.buckets_by(
        LLM_CONTEXT.name, label, wanted or None, start=start, end=end, step_s=step_s
    )


def _merged(sketches: Iterable[Sketch | None]) -> Sketch:
    found: Sketch | None = None
    for sketch in sketches:
        if sketch is not None and sketch.count:
            if found is None:
                found = sketch.copy()
            else:
                found.merge(sketch)
    return found or Sketch()


def _current(steps: list[Bucket]) -> float | None:
    for bucket in reversed(steps):
        if bucket.sketch is not None and bucket.sketch.count:
            return bucket.sketch.max
    return None


def _figures(sketch: Sketch, current: float | None) -> dict[str, int | None]:
    """Whole tokens: the sketch's p95 is within its accuracy, a fraction of a token is noise."""
    p95 = sketch.quantile(0.95)
    return {
        "current": None if current is None else round(current),
        "max": round(sketch.max) if sketch.count else None,
        "p95": None if p95 is None else round(p95),
    }
