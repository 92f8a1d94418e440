"""The sections of a time-series answer (but ``performance``, in ``_performance``, and insights).

Conventions, kept by every section: a step with nothing in it reads 0 for counts, tokens and
dollars, and ``null`` for what is undefined without observations (latencies, ratios, rates).
Latencies are in seconds, dollars in US dollars, ``...Rate`` in percent and ``...Ratio``
between 0 and 1. Counters are the increase over the step whatever the aggregation; the
aggregation says how each latency point is made from the step's observations.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timezone
from typing import Final

from agentguard.metricmap import (
    BREAKER_REJECTIONS,
    BREAKER_STATE,
    BREAKER_STATE_NUMBERS,
    BREAKER_TRANSITIONS,
    CACHE_LOST,
    CACHE_SAVED,
    ERRORS,
    LLM_CALLS,
    LLM_COST,
    LLM_DURATION,
    LLM_TOKENS,
    LOOP_DETECTIONS,
    RUNS,
    TOOL_CALLS,
    TOOL_DURATION,
)
from agentguard_metrics.caps import OTHER
from agentguard_metrics.store import Store, label_position
from agentguard_service._budget import covered_s
from agentguard_service._stats import (
    amount,
    count,
    latency_stats,
    merged,
    percent,
    point_stat,
    ratio,
)
from agentguard_service._window import Window

TOKEN_TYPES: Final = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
"""The token types, as ``agentguard_llm_tokens_total`` labels them."""
CAMEL: Final = {
    "input": "input",
    "output": "output",
    "cache_read": "cacheRead",
    "cache_write_5m": "cacheWrite5m",
    "cache_write_1h": "cacheWrite1h",
}
STATE_NAMES: Final = {number: name for name, number in BREAKER_STATE_NUMBERS.items()}
STABLE_PERCENT: Final = 5.0
"""A change against the previous period within this many percent is ``stable``."""
MODEL_SERIES_MAX: Final = 6
"""Models given a time series of their own in ``models``; the rest add up as ``other``."""

_DAY = 86400.0

Point = dict[str, object]


def summary(w: Window) -> dict[str, object]:
    """The window's totals across LLM and tool calls."""
    calls = w.total(LLM_CALLS.name) + w.total(TOOL_CALLS.name)
    failed = w.total(LLM_CALLS.name, status="error") + w.total(TOOL_CALLS.name, status="error")
    latency = merged(w.sketch(LLM_DURATION.name), w.sketch(TOOL_DURATION.name))
    return {
        "totalExecutions": count(calls),
        "successfulExecutions": count(calls - failed),
        "failedExecutions": count(failed),
        "successRate": percent(calls - failed, calls),
        "totalCost": amount(w.total(LLM_COST.name)),
        **latency_stats(latency),
    }


def _token_counts(w: Window) -> dict[str, list[float]]:
    by_type = w.counts_by(LLM_TOKENS.name, "token_type")
    return {t: by_type.get(t) or w.zeros() for t in TOKEN_TYPES}


def models(w: Window, name: str, *, whole: bool) -> list[dict[str, object]]:
    """Counter ``name`` per step for each model, the largest over the window first.

    Each entry is ``{"model", "total", "values"}``, ``values`` holding one amount per step
    of the section's ``timeSeries`` (not repeating its timestamps: this list grows with
    models times steps). The :data:`MODEL_SERIES_MAX` largest models have an entry each;
    the rest add up as ``other`` (the total less the models drawn), together with the models
    a cardinality cap folded into ``other`` already, so there is one ``other``. The models'
    steps come from one read for every model, so the reads and the answer stay bounded
    however many models there are. Models with nothing in the window are left out.
    ``whole``: the amounts are counts, as integers.
    """
    totals = sorted(
        ((v, m) for (m,), v in w.grouped(name, ("model",)).items() if v), key=lambda t: -t[0]
    )
    named = [(v, m) for v, m in totals if m != OTHER][:MODEL_SERIES_MAX]
    by_model = w.counts_by(name, "model", [m for _, m in named])
    found = [(m, v, by_model.get(m) or w.zeros()) for v, m in named]
    if len(totals) > len(named):
        drawn = [sum(steps) for steps in zip(w.zeros(), *(s for _, _, s in found), strict=True)]
        rest = [max(0.0, a - b) for a, b in zip(w.counts(name), drawn, strict=True)]
        found.append(("other", sum(v for v, _ in totals) - sum(v for v, _ in named), rest))
    if whole:
        return [
            {"model": m, "total": count(total), "values": [count(v) for v in steps]}
            for m, total, steps in found
        ]
    return [{"model": m, "total": total, "values": list(steps)} for m, total, steps in found]


def usage(w: Window) -> dict[str, object]:
    """Calls, runs and tokens by type, per step and over the window; tokens per model."""
    columns: dict[str, list[float]] = {
        "llmCalls": w.counts(LLM_CALLS.name),
        "toolCalls": w.counts(TOOL_CALLS.name),
        "runs": w.counts(RUNS.name),
        **{f"{CAMEL[t]}Tokens": v for t, v in _token_counts(w).items()},
    }
    points = [
        {"timestamp": ts, **{k: round(v[i]) for k, v in columns.items()}}
        for i, ts in enumerate(w.timestamps())
    ]
    return {
        "timeSeries": points,
        "totals": {k: count(sum(v)) for k, v in columns.items()},
        "models": models(w, LLM_TOKENS.name, whole=True),
    }


def month_start(now: float) -> float:
    """The start of ``now``'s calendar month, UTC."""
    moment = datetime.fromtimestamp(now, tz=timezone.utc)
    return datetime(moment.year, moment.month, 1, tzinfo=timezone.utc).timestamp()


def month_end(now: float) -> float:
    """The end of ``now``'s calendar month, UTC."""
    moment = datetime.fromtimestamp(now, tz=timezone.utc)
    days = calendar.monthrange(moment.year, moment.month)[1]
    return month_start(now) + days * _DAY


def costs(w: Window, now: float, budget_usd_per_month: float | None) -> dict[str, object]:
    """Dollars per step, component and model; breakdown, trends and budget over the window."""
    total_steps = w.counts(LLM_COST.name)
    by_component = w.counts_by(LLM_COST.name, "component")
    parts = {t: by_component.get(t) or w.zeros() for t in TOKEN_TYPES}
    points = [
        {"timestamp": ts, "cost": total_steps[i], **{CAMEL[t]: parts[t][i] for t in TOKEN_TYPES}}
        for i, ts in enumerate(w.timestamps())
    ]
    total = sum(total_steps)
    by_model = w.grouped(LLM_COST.name, ("model",))
    window_s = w.end - w.start
    previous = w.counter(LLM_COST.name, w.start - window_s, w.start)
    change = percent(total - previous, previous)
    covered = covered_s(w, LLM_COST.name, total_steps, now)
    burn_per_day = total / covered * _DAY if covered else 0.0
    month_to_date = w.counter(LLM_COST.name, month_start(now), None)
    projected = month_to_date + burn_per_day * max(0.0, month_end(now) - now) / _DAY
    section: dict[str, object] = {
        "total": total,
        "timeSeries": points,
        "breakdown": {
            "byTokenType": {t: sum(parts[t]) for t in TOKEN_TYPES},
            "byModel": {model: v for (model,), v in sorted(by_model.items()) if v},
        },
        "models": models(w, LLM_COST.name, whole=False),
        "trends": {
            "previousPeriodTotal": previous,
            "changePercent": change,
            "trend": trend(change),
            "burnRatePerDay": burn_per_day,
            "monthToDate": month_to_date,
            "projectedMonthly": projected,
        },
    }
    if budget_usd_per_month is not None:
        section["budget"] = {
            "budget": budget_usd_per_month,
            "spent": month_to_date,
            "remaining": budget_usd_per_month - month_to_date,
            "projected": projected,
            "onTrack": projected <= budget_usd_per_month,
            "burnRate": burn_per_day,
        }
    return section


def trend(change_percent: float | None) -> str:
    """``increasing``, ``decreasing`` or ``stable`` (also when there is nothing to compare)."""
    if change_percent is None or abs(change_percent) < STABLE_PERCENT:
        return "stable"
    return "increasing" if change_percent > 0 else "decreasing"


def errors(w: Window) -> dict[str, object]:
    """Errors per step by source and by kind, the error rate of executions; kinds' totals.

    ``byKind`` in every point lists the same kinds: those with errors in the window.
    """
    total = w.counts(ERRORS.name)
    by_source = w.counts_by(ERRORS.name, "source")
    sources = {s: by_source.get(s) or w.zeros() for s in ("llm", "tool", "other")}
    calls = [
        a + b for a, b in zip(w.counts(LLM_CALLS.name), w.counts(TOOL_CALLS.name), strict=True)
    ]
    failed = [
        a + b
        for a, b in zip(
            w.counts(LLM_CALLS.name, status="error"),
            w.counts(TOOL_CALLS.name, status="error"),
            strict=False,
        )
    ]
    points: list[Point] = [
        {
            "timestamp": ts,
            "errors": count(total[i]),
            **{s: round(v[i]) for s, v in sources.items()},
            "errorRate": percent(failed[i], calls[i]),
        }
        for i, ts in enumerate(w.timestamps())
    ]
    by_kind = w.grouped(ERRORS.name, ("kind",))
    kinds = sorted(k for (k,), v in by_kind.items() if v)
    kind_steps = w.counts_by(ERRORS.name, "kind", kinds) if kinds else {}
    for i, point in enumerate(points):
        point["byKind"] = {k: round((kind_steps.get(k) or w.zeros())[i]) for k in kinds}
    return {
        "timeSeries": points,
        "breakdown": {
            "bySource": {s: count(sum(v)) for s, v in sources.items()},
            "byKind": {k: count(v) for (k,), v in sorted(by_kind.items()) if v},
        },
    }


def _cache_point(read: float, write: float, uncached: float, saved: float) -> Point:
    return {
        "hitRatio": ratio(read, read + write + uncached),
        "readTokens": count(read),
        "writeTokens": count(write),
        "uncachedTokens": count(uncached),
        "savedUsd": saved,
    }


def net_saved(saved: list[float], lost: list[float]) -> list[float]:
    """What prompt caching saved, net, per step: the two signs of one figure, put together.

    A write-only call's negative saving is kept (docs/architecture.md, "One definition for
    each figure"); the snapshot and the query both read it from here.
    """
    return [s - loss for s, loss in zip(saved, lost, strict=True)]


def cache(w: Window) -> dict[str, object]:
    """Prompt-cache hit ratio, tokens and dollars saved, per step and over the window."""
    tokens = _token_counts(w)
    reads = tokens["cache_read"]
    writes = [
        a + b for a, b in zip(tokens["cache_write_5m"], tokens["cache_write_1h"], strict=True)
    ]
    uncached = tokens["input"]
    saved = net_saved(w.counts(CACHE_SAVED.name), w.counts(CACHE_LOST.name))
    points = [
        {"timestamp": ts, **_cache_point(reads[i], writes[i], uncached[i], saved[i])}
        for i, ts in enumerate(w.timestamps())
    ]
    return {
        "timeSeries": points,
        "totals": _cache_point(sum(reads), sum(writes), sum(uncached), sum(saved)),
    }


def tools(w: Window, aggregation: str) -> dict[str, object]:
    """Tool calls, errors, latency and loop detections per step and per tool."""
    calls = w.counts(TOOL_CALLS.name)
    failed = w.counts(TOOL_CALLS.name, status="error")
    latency = w.sketches(TOOL_DURATION.name)
    loops = w.counts(LOOP_DETECTIONS.name)
    points = [
        {
            "timestamp": ts,
            "calls": count(calls[i]),
            "errors": count(failed[i]),
            "latency": point_stat(latency[i], None, aggregation),
            "loopDetections": count(loops[i]),
        }
        for i, ts in enumerate(w.timestamps())
    ]
    by_tool = w.grouped(TOOL_CALLS.name, ("tool",))
    errors_by_tool = w.grouped(TOOL_CALLS.name, ("tool", "status"))
    loops_by_tool = w.grouped(LOOP_DETECTIONS.name, ("tool",))
    latencies = w.sketches_by(TOOL_DURATION.name, "tool")
    names = sorted(
        {t for (t,), v in by_tool.items() if v} | {t for (t,), v in loops_by_tool.items() if v}
    )
    return {
        "aggregation": aggregation,
        "timeSeries": points,
        "byTool": [
            {
                "tool": name,
                "calls": count(by_tool.get((name,), 0.0)),
                "errors": count(errors_by_tool.get((name, "error"), 0.0)),
                **latency_stats(latencies.get(name)),
                "loopDetections": count(loops_by_tool.get((name,), 0.0)),
            }
            for name in names
        ],
    }


def breaker_states(store: Store) -> dict[str, str]:
    """Each breaker's state now (``closed``, ``half_open``, ``open``).

    A breaker belongs to no agent: the aggregator keeps ``agentguard_breaker_state`` under
    agent ``""`` alone, its latest value winning across processes, so the state is the same
    whatever agent a query is narrowed to.
    """
    at = label_position(BREAKER_STATE.name, "breaker")
    states: dict[str, float] = {}
    for values, value in store.gauges(BREAKER_STATE.name).items():
        name = values[at]
        states[name] = max(states.get(name, 0.0), value)  # one series per breaker
    return {name: STATE_NAMES.get(round(v), "open") for name, v in sorted(states.items())}


_TO_STATES = (("open", "opened"), ("half_open", "halfOpened"), ("closed", "closed"))


def breakers(w: Window) -> dict[str, object]:
    """Transitions and rejections per step; each breaker's state now and its window."""
    by_state = w.counts_by(BREAKER_TRANSITIONS.name, "to_state")
    moves = {key: by_state.get(s) or w.zeros() for s, key in _TO_STATES}
    rejections = w.counts(BREAKER_REJECTIONS.name)
    points = [
        {
            "timestamp": ts,
            **{key: round(v[i]) for key, v in moves.items()},
            "rejections": count(rejections[i]),
        }
        for i, ts in enumerate(w.timestamps())
    ]
    states = breaker_states(w.store)
    transitions = w.grouped(BREAKER_TRANSITIONS.name, ("breaker", "to_state"))
    rejected = w.grouped(BREAKER_REJECTIONS.name, ("breaker",))
    names = sorted(set(states) | {b for b, _ in transitions} | {b for (b,) in rejected})
    return {
        "timeSeries": points,
        "current": states,
        "byBreaker": [
            {
                "breaker": name,
                "state": states.get(name),
                **{key: count(transitions.get((name, s), 0.0)) for s, key in _TO_STATES},
                "rejections": count(rejected.get((name,), 0.0)),
            }
            for name in names
        ],
    }
