"""The ``performance`` section: executions, latency and throughput; trends of the period.

Conventions as in :mod:`agentguard_service._groups`. Throughput is per second of each step
(the last step, in progress, reads low until it ends) and of the whole window; trends read
the period of the same length just before the window, from the roll-up that holds it.
"""

from __future__ import annotations

from typing import cast

from agentguard.metricmap import (
    LLM_CALLS,
    LLM_DURATION,
    LLM_TOKENS,
    TOOL_CALLS,
    TOOL_DURATION,
)
from agentguard_service._groups import Point, trend
from agentguard_service._stats import count, latency_stats, merged, percent, point_stat, stat
from agentguard_service._window import Window, iso


def _endpoints(w: Window, kind: str, calls: str, duration: str, label: str) -> list[Point]:
    requests = w.grouped(calls, (label,))
    errors = w.grouped(calls, (label, "status"))
    sketches = w.sketches_by(duration, label)
    found: list[Point] = []
    for (name,), n in sorted(requests.items()):
        if not n:
            continue
        found.append(
            {
                "endpoint": f"{kind}:{name}",
                "requests": count(n),
                "errors": count(errors.get((name, "error"), 0.0)),
                **latency_stats(sketches.get(name)),
            }
        )
    return found


def performance(w: Window, aggregation: str) -> dict[str, object]:
    """Executions, failures, latency and throughput per step; endpoints, trends, throughput."""
    llm = w.counts(LLM_CALLS.name)
    tool = w.counts(TOOL_CALLS.name)
    llm_failed = w.counts(LLM_CALLS.name, status="error")
    tool_failed = w.counts(TOOL_CALLS.name, status="error")
    llm_s = w.sketches(LLM_DURATION.name)
    tool_s = w.sketches(TOOL_DURATION.name)
    tokens = w.counts(LLM_TOKENS.name)
    points: list[Point] = [
        {
            "timestamp": ts,
            "executions": count(llm[i] + tool[i]),
            "failed": count(llm_failed[i] + tool_failed[i]),
            "latency": point_stat(llm_s[i], tool_s[i], aggregation),
            "llmLatency": point_stat(llm_s[i], None, aggregation),
            "toolLatency": point_stat(tool_s[i], None, aggregation),
            "requestsPerSecond": (llm[i] + tool[i]) / w.step_s,
            "tokensPerSecond": tokens[i] / w.step_s,
        }
        for i, ts in enumerate(w.timestamps())
    ]
    return {
        "aggregation": aggregation,
        "timeSeries": points,
        "endpoints": [
            *_endpoints(w, "llm", LLM_CALLS.name, LLM_DURATION.name, "model"),
            *_endpoints(w, "tool", TOOL_CALLS.name, TOOL_DURATION.name, "tool"),
        ],
        "throughput": _throughput(w, points, sum(llm) + sum(tool), sum(tokens)),
        "trends": _performance_trends(w),
    }


def _throughput(w: Window, points: list[Point], calls: float, tokens: float) -> Point:
    """The window's rates per second, and its busiest step (``None`` without calls)."""
    window_s = w.end - w.start
    peak: Point | None = None
    if calls:
        busiest = max(points, key=lambda p: cast("float", p["requestsPerSecond"]))
        peak = {
            "timestamp": busiest["timestamp"],
            "requestsPerSecond": busiest["requestsPerSecond"],
            "tokensPerSecond": busiest["tokensPerSecond"],
        }
    return {
        "requestsPerSecond": calls / window_s,
        "tokensPerSecond": tokens / window_s,
        "peak": peak,
    }


def change(current: float | None, previous: float | None) -> dict[str, object]:
    """``current`` against ``previous``: both, ``changePercent`` and :func:`trend`.

    From a previous 0 to more, ``changePercent`` is ``None`` (no percentage of nothing) and
    the trend ``increasing``.
    """
    percent_change = None
    if current is not None and previous:
        percent_change = 100.0 * (current - previous) / previous
    direction = trend(percent_change)
    if previous == 0 and current:
        direction = "increasing"
    return {
        "current": current,
        "previous": previous,
        "changePercent": percent_change,
        "trend": direction,
    }


def _performance_trends(w: Window) -> Point:
    """Latency p50/p95 and error rate against the previous period of the same length."""
    start, end = w.start - (w.end - w.start), w.start
    now = merged(w.sketch(LLM_DURATION.name), w.sketch(TOOL_DURATION.name))
    before = merged(
        w.histogram(LLM_DURATION.name, start, end), w.histogram(TOOL_DURATION.name, start, end)
    )
    calls = w.total(LLM_CALLS.name) + w.total(TOOL_CALLS.name)
    failed = w.total(LLM_CALLS.name, status="error") + w.total(TOOL_CALLS.name, status="error")
    calls_before = w.counter(LLM_CALLS.name, start, end) + w.counter(TOOL_CALLS.name, start, end)
    failed_before = w.counter(LLM_CALLS.name, start, end, status="error") + w.counter(
        TOOL_CALLS.name, start, end, status="error"
    )
    return {
        "previousPeriod": {"start": iso(start), "end": iso(end)},
        "latencyP50": change(stat(now, "p50"), stat(before, "p50")),
        "latencyP95": change(stat(now, "p95"), stat(before, "p95")),
        "errorRate": change(percent(failed, calls), percent(failed_before, calls_before)),
    }
