"""Rule-based findings over a query's window: the ``insights`` group of the query API.

Each rule reads the window (and, for trends, the period of the same length before it) and
yields :class:`Insight` objects: ``cost_trend``, ``latency_spike``, ``breaker_flapping``,
``tool_loop``, ``cache_writes_unread`` and ``cache_opportunity``. Their thresholds are the
module's constants (:data:`COST_TREND_PERCENT`, :data:`SPIKE_FACTOR`, ...); what each rule
means is the table in packages/service/README.md. ``latency_spike`` compares steps of the
timeframe's default granularity, or the query's when coarser (:func:`spike_step_s`): a
one-minute blip in a day is noise, a slow quarter-hour is not. Each type has an area
(:data:`AREA_OF`); :func:`insights_section` groups findings by area with their savings.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias, cast

from agentguard.metricmap import (
    BREAKER_TRANSITIONS,
    LLM_CALLS,
    LLM_COST,
    LLM_DURATION,
    LLM_TOKENS,
    LOOP_DETECTIONS,
    TOOL_DURATION,
)
from agentguard_metrics.sketch import Sketch
from agentguard_metrics.store import label_position
from agentguard_service._groups import breaker_states
from agentguard_service._stats import percent
from agentguard_service._window import Window, iso
from agentguard_service.params import DEFAULT_GRANULARITY, GRANULARITIES, TIMEFRAMES

__all__ = [
    "AREAS",
    "AREA_OF",
    "ASSUMED_CACHED_SHARE",
    "BREAKER_OPENS",
    "COST_TREND_PERCENT",
    "MIN_CACHEABLE_TOKENS",
    "MIN_CACHE_WRITE_TOKENS",
    "MIN_CALLS",
    "MIN_COST_USD",
    "MIN_STEPS",
    "MIN_STEP_SAMPLES",
    "SPIKE_FACTOR",
    "UNREAD_RATIO",
    "Insight",
    "Severity",
    "find_insights",
    "insights_section",
]

Severity: TypeAlias = Literal["info", "warning", "critical"]
"""How urgent a finding is."""

COST_TREND_PERCENT: Final = 20.0
MIN_COST_USD: Final = 0.01
SPIKE_FACTOR: Final = 2.0
MIN_STEP_SAMPLES: Final = 5
MIN_STEPS: Final = 4
BREAKER_OPENS: Final = 3
MIN_CACHE_WRITE_TOKENS: Final = 1024
UNREAD_RATIO: Final = 0.05
MIN_CALLS: Final = 10
MIN_CACHEABLE_TOKENS: Final = 1024
ASSUMED_CACHED_SHARE: Final = 0.5
_CACHE_READ_DISCOUNT = 0.9
_WRITE_PREMIUM = {"cache_write_5m": 0.25 / 1.25, "cache_write_1h": 1.0 / 2.0}
"""The share of a cache write's cost above plain input (5m writes cost 1.25x, 1h 2x)."""

AREAS: Final = ("cost", "performance", "reliability", "caching", "tools")
"""The areas findings are grouped by, in the order ``byArea`` lists them."""
AREA_OF: Final = {
    "cost_trend": "cost",
    "latency_spike": "performance",
    "breaker_flapping": "reliability",
    "tool_loop": "tools",
    "cache_writes_unread": "caching",
    "cache_opportunity": "caching",
}
"""Each finding type's area."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Insight:
    """One finding."""

    type: str
    """What was found: ``cost_trend``, ``latency_spike``, ``breaker_flapping``,
    ``tool_loop``, ``cache_writes_unread`` or ``cache_opportunity``."""
    severity: Severity
    """How urgent it is."""
    message: str
    """What was found, with its numbers."""
    recommendation: str
    """What to do about it."""
    facts: dict[str, object] = field(default_factory=dict)
    """The numbers behind it (``endpoint``, ``timestamp``, ``value``, ...), added to the JSON."""

    def to_json(self) -> dict[str, object]:
        """``{type, area, severity, message, recommendation, **facts}``."""
        return {
            "type": self.type,
            "area": AREA_OF[self.type],
            "severity": self.severity,
            "message": self.message,
            "recommendation": self.recommendation,
            **self.facts,
        }


def find_insights(w: Window) -> list[Insight]:
    """Every finding of every rule over the window ``w``, most severe first."""
    found = [
        *_cost_trend(w),
        *_latency_spikes(w),
        *_breakers(w),
        *_loops(w),
        *_cache(w),
    ]
    order = {"critical": 0, "warning": 1, "info": 2}
    return sorted(found, key=lambda i: order[i.severity])


def insights_section(found: list[Insight]) -> dict[str, object]:
    """The ``insights`` group: ``findings`` (flat, as ever), ``byArea`` and the savings.

    ``byArea`` has every area of :data:`AREAS`, each ``{"findings", "potentialSavingsUsd"}``;
    a saving adds up the findings' ``estimatedSavingsUsd`` (``None`` when no finding of the
    area estimates one). ``potentialSavingsUsd`` is the total over the areas.
    """
    findings = [i.to_json() for i in found]
    by_area: dict[str, dict[str, object]] = {}
    total: float | None = None
    for area in AREAS:
        mine = [f for f in findings if f["area"] == area]
        savings = [f["estimatedSavingsUsd"] for f in mine if "estimatedSavingsUsd" in f]
        saving = sum(cast("float", v) for v in savings) if savings else None
        if saving is not None:
            total = (total or 0.0) + saving
        by_area[area] = {"findings": mine, "potentialSavingsUsd": saving}
    return {"findings": findings, "byArea": by_area, "potentialSavingsUsd": total}


def _cost_trend(w: Window) -> Iterator[Insight]:
    total = w.total(LLM_COST.name)
    window_s = w.end - w.start
    previous = w.counter(LLM_COST.name, w.start - window_s, w.start)
    change = percent(total - previous, previous)
    if change is None or change < COST_TREND_PERCENT or total < MIN_COST_USD:
        return
    yield Insight(
        type="cost_trend",
        severity="critical" if change >= 100.0 else "warning",
        message=f"Cost is up {change:.1f}% on the previous period "
        f"(${total:.2f} against ${previous:.2f})",
        recommendation="Check which models and agents drive it (costs.breakdown.byModel, "
        "agent=); move simple steps to a cheaper model and cache stable prompt prefixes.",
        facts={"changePercent": change, "value": total, "baseline": previous},
    )


def spike_step_s(w: Window) -> int:
    """The step the latency-spike rule compares, in seconds.

    The timeframe's default granularity, or the query's when coarser: a 24 h window at 1m is
    judged in 96 steps of 15m.
    """
    by_length = {length: timeframe for timeframe, length in TIMEFRAMES.items()}
    timeframe = by_length.get(w.end - w.start)
    if timeframe is None:
        return w.step_s
    default = GRANULARITIES[DEFAULT_GRANULARITY[timeframe]]
    return default if default > w.step_s and default % w.step_s == 0 else w.step_s


def _latency_spikes(w: Window) -> Iterator[Insight]:
    step_s = spike_step_s(w)
    for kind, name, label in (
        ("llm", LLM_DURATION.name, "model"),
        ("tool", TOOL_DURATION.name, "tool"),
    ):
        p95s = [
            (start, sketch.quantile(0.95) or 0.0)
            for start, sketch in w.coarse_sketches(name, step_s)
            if sketch.count >= MIN_STEP_SAMPLES
        ]
        if len(p95s) < MIN_STEPS:
            continue
        baseline = statistics.median(v for _, v in p95s)
        start, value = max(p95s, key=lambda p: p[1])
        if baseline <= 0 or value < SPIKE_FACTOR * baseline:
            continue
        endpoint = _slowest(w, name, label, start, start + step_s)
        who = f"{kind}:{endpoint}" if endpoint is not None else f"{kind} calls"
        yield Insight(
            type="latency_spike",
            severity="critical" if value >= 2 * SPIKE_FACTOR * baseline else "warning",
            message=f"p95 latency of {kind} calls reached {value:.3g} s at {iso(start)}, "
            f"{value / baseline:.1f}x the window's typical {baseline:.3g} s (slowest: {who})",
            recommendation="Look at that time for provider errors and retries, larger "
            "contexts or a slow tool backend; a circuit breaker and timeouts bound the damage.",
            facts={
                "timestamp": iso(start),
                "endpoint": who,
                "value": value,
                "baseline": baseline,
            },
        )


def _slowest(w: Window, name: str, label: str, start: int, end: int) -> str | None:
    at = label_position(name, label)
    keeps = w.keeps(name)
    by: dict[str, Sketch] = {}
    for values, sketch in w.store.histograms(name, start, end).items():
        if not keeps(values):
            continue
        held = by.get(values[at])
        if held is None:
            by[values[at]] = sketch.copy()
        else:
            held.merge(sketch)
    p95 = {k: s.quantile(0.95) for k, s in by.items() if s.count}
    return max(p95, key=lambda k: p95[k] or 0.0) if p95 else None


def _breakers(w: Window) -> Iterator[Insight]:
    opens = w.grouped(BREAKER_TRANSITIONS.name, ("breaker", "to_state"))
    states = breaker_states(w.store)
    for (breaker, to_state), n in sorted(opens.items()):
        if to_state != "open" or n < BREAKER_OPENS:
            continue
        state = states.get(breaker, "closed")
        yield Insight(
            type="breaker_flapping",
            severity="critical" if state == "open" else "warning",
            message=f"Circuit breaker {breaker!r} opened {round(n)} times in the window "
            f"(now {state})",
            recommendation="The dependency behind it keeps failing: check its status and "
            "errors.breakdown; raise reset_timeout_s if it needs longer to recover.",
            facts={"breaker": breaker, "value": round(n), "state": state},
        )


def _loops(w: Window) -> Iterator[Insight]:
    detections = w.grouped(LOOP_DETECTIONS.name, ("tool", "action"))
    tools = sorted({tool for (tool, _), n in detections.items() if n})
    for tool in tools:
        stops = detections.get((tool, "stop"), 0.0)
        total = stops + detections.get((tool, "warn"), 0.0)
        yield Insight(
            type="tool_loop",
            severity="warning" if stops else "info",
            message=f"Tool {tool!r} was caught looping {_times(round(total), 'time')} "
            f"({_times(round(stops), 'run')} stopped)",
            recommendation="Make the tool's result say when to stop (an empty result, a final "
            "status), or tell the model in the tool description not to poll it.",
            facts={"tool": tool, "value": round(total), "stopped": round(stops)},
        )


def _times(n: int, noun: str) -> str:
    """``1 run``, ``2 runs``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _cache(w: Window) -> Iterator[Insight]:
    tokens = w.grouped(LLM_TOKENS.name, ("model", "token_type"))
    calls = w.grouped(LLM_CALLS.name, ("model",))
    input_cost = w.grouped(LLM_COST.name, ("model", "component"))
    for (model,), n in sorted(calls.items()):
        read = tokens.get((model, "cache_read"), 0.0)
        written = tokens.get((model, "cache_write_5m"), 0.0) + tokens.get(
            (model, "cache_write_1h"), 0.0
        )
        uncached = tokens.get((model, "input"), 0.0)
        if written >= MIN_CACHE_WRITE_TOKENS and read < UNREAD_RATIO * written:
            premium = sum(input_cost.get((model, t), 0.0) * s for t, s in _WRITE_PREMIUM.items())
            read_saved = input_cost.get((model, "cache_read"), 0.0) * (
                _CACHE_READ_DISCOUNT / (1.0 - _CACHE_READ_DISCOUNT)
            )
            saving = premium - read_saved
            facts: dict[str, object] = {
                "model": model,
                "writeTokens": round(written),
                "readTokens": round(read),
            }
            if saving >= MIN_COST_USD:
                facts["estimatedSavingsUsd"] = saving
            yield Insight(
                type="cache_writes_unread",
                severity="warning",
                message=f"{model} wrote {round(written):,} tokens to the prompt cache and "
                f"read back {round(read):,}",
                recommendation="The cached prefix changes between calls or expires before "
                "reuse: keep tools and system prompt byte-identical and first, or drop "
                "cache_control (writes cost more than plain input).",
                facts=facts,
            )
        elif read == 0 and written == 0 and n >= MIN_CALLS and uncached / n >= MIN_CACHEABLE_TOKENS:
            saving = input_cost.get((model, "input"), 0.0) * ASSUMED_CACHED_SHARE
            saving *= _CACHE_READ_DISCOUNT
            if saving < MIN_COST_USD:
                continue
            yield Insight(
                type="cache_opportunity",
                severity="info",
                message=f"{model} sent {round(uncached / n):,} uncached input tokens a call "
                f"over {round(n)} calls; prompt caching could save about ${saving:.2f}",
                recommendation="Mark the stable prefix (tools, system prompt, long documents) "
                "with cache_control so later calls read it at a tenth of the input price.",
                facts={"model": model, "estimatedSavingsUsd": saving},
            )
