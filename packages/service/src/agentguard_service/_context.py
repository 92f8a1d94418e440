"""Context size (every input token of a call) per model and per agent: current, max, p95.

Read from the ``agentguard_llm_context_tokens`` histogram. *current* is the largest context of
the latest step that had calls (a context grows within a run, so that step's largest is its
latest state); *max* and *p95* cover the window (the query) or all time (the snapshot). p95 is
the sketch's (linear interpolation, within its relative accuracy).
"""

from __future__ import annotations

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
_RECENT_STEPS = 60


def query_context(w: Window) -> Sizes:
    """The ``context`` section of a query: per model and agent over the window's steps."""
    out: Sizes = {}
    for key, label in _LABELS:
        whole = {v: s for v, s in w.sketches_by(LLM_CONTEXT.name, label).items() if v and s.count}
        current = _latest_step_max(w, label, set(whole))
        out[key] = {value: _figures(whole[value], current.get(value)) for value in sorted(whole)}
    return out


def _latest_step_max(w: Window, label: str, values: set[str]) -> dict[str, float]:
    """Per value, the largest context of the window's latest step with calls.

    The last :data:`_RECENT_STEPS` steps are read first and the earlier ones only for the
    values without calls there: a 24 h window read at 1 minute is 1,440 sketches per value.
    """
    found: dict[str, float] = {}
    split = max(w.start, w.end - _RECENT_STEPS * w.step_s)
    for start, end in ((split, w.end), (w.start, split)):
        missing = values - found.keys()
        if not missing or start >= end:
            break
        for value, steps in _scoped_steps(w, label, start, end, missing).items():
            latest = _current(steps)
            if latest is not None:
                found[value] = latest
    return found


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


def _scoped_steps(
    w: Window, label: str, start: int, end: int, values: set[str]
) -> dict[str, list[Bucket]]:
    """Per value of ``label`` (of ``values``), the steps of ``[start, end)``.

    Over the window's agents: several agents' sketches are merged step by step.
    """
    filters = w.series_filters(LLM_CONTEXT.name)
    found = [
        _steps(w.store, label, f, start=start, end=end, step_s=w.step_s, values=values)
        for f in filters
    ]
    if len(found) == 1:
        return found[0]
    per_start: dict[str, dict[int, Sketch]] = {}
    for per_value in found:
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
    store: Store,
    label: str,
    wanted: dict[str, str],
    *,
    start: float,
    end: float,
    step_s: int,
    values: set[str] | None = None,
) -> dict[str, list[Bucket]]:
    return store.buckets_by(
        LLM_CONTEXT.name,
        label,
        wanted or None,
        start=start,
        end=end,
        step_s=step_s,
        values=None if values is None else sorted(values),
    )


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
