"""The built-in rules, with the thresholds users expect as defaults.

Each function returns a :class:`~agentguard_alerts.rules.Rule`; every one takes ``name``,
``window_s``, ``for_s``, ``severity``, ``labels``, ``summary``, ``description`` and
``repeat_interval_s`` besides its own options, so a default can be changed without writing the
expression again. :data:`BUILTINS` maps each function's name to it (the ``[builtin]`` table of
a rules file uses these names). The defaults and the seed each comes from are the table in
packages/alerts/README.md ("Built-in rules and their defaults"); change both together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

from agentguard_alerts.errors import RuleConfigError
from agentguard_alerts.expressions import Change, Gauge, Increase, Max, Quantile, Ratio
from agentguard_alerts.rules import Rule

__all__ = [
    "BUILTINS",
    "breaker_open",
    "budget_exceeded",
    "cache_hit_ratio_below",
    "cost_increase",
    "cost_per_hour",
    "cost_per_run",
    "cost_per_step",
    "default_rules",
    "error_rate",
    "loop_detected",
    "max_context_size",
    "max_step_time",
    "min_success_rate",
    "p95_latency",
]

_Of = Literal["llm", "tool"]

_CALLS = {"llm": "agentguard_llm_calls_total", "tool": "agentguard_tool_calls_total"}
_DURATIONS = {
    "llm": "agentguard_llm_call_duration_seconds",
    "tool": "agentguard_tool_call_duration_seconds",
}
_BY = {"llm": "model", "tool": "tool"}
_WHAT = {"llm": "LLM calls", "tool": "tool calls"}
_INPUT_TYPES = ["input", "cache_read", "cache_write_5m", "cache_write_1h"]


def _of(of: str) -> str:
    if of not in _CALLS:
        raise RuleConfigError(f"must be 'llm' or 'tool', got {of!r}", key="of")
    return of


def _rule(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> Rule:
    return Rule(**{**defaults, **{k: v for k, v in overrides.items() if v is not None}})


def error_rate(
    threshold: float = 0.05, *, of: _Of = "llm", min_count: float = 10, **options: Any
) -> Rule:
    """Failed calls over all calls, over 5 minutes, held 2 minutes; at least 10 calls."""
    calls = _CALLS[_of(of)]
    return _rule(
        {
            "name": "HighErrorRate" if of == "llm" else "HighToolErrorRate",
            "expr": Ratio(Increase(calls, {"status": "error"}), Increase(calls), min_count),
            "threshold": threshold,
            "window_s": 300,
            "for_s": 120,
            "summary": f"$value of {_WHAT[of]} failed over $window (more than $threshold)",
        },
        options,
    )


def p95_latency(threshold: float = 5.0, *, of: _Of = "llm", **options: Any) -> Rule:
    """The p95 duration of LLM (per model) or tool (per tool) calls, over 5 minutes."""
    by = _BY[_of(of)]
    return _rule(
        {
            "name": "HighLatencyP95" if of == "llm" else "HighToolLatencyP95",
            "expr": Quantile(_DURATIONS[of], 0.95),
            "threshold": threshold,
            "by": (by,),
            "window_s": 300,
            "for_s": 120,
            "summary": f"p95 of {_WHAT[of]} to ${by} is $value s over $window "
            "(more than $threshold s)",
        },
        options,
    )


def max_step_time(threshold: float = 30.0, *, of: _Of = "llm", **options: Any) -> Rule:
    """The slowest step over 5 minutes: one LLM call (per model), or one tool call (per tool).

    A step of an agent is one model call and the tools it asks for; ``of="tool"`` watches
    the tools alone.
    """
    by = _BY[_of(of)]
    return _rule(
        {
            "name": "SlowStep" if of == "llm" else "SlowToolCall",
            "expr": Max(_DURATIONS[of]),
            "threshold": threshold,
            "by": (by,),
            "window_s": 300,
            "summary": f"a step of ${by} took $value s (more than $threshold s)",
        },
        options,
    )


def cost_per_step(threshold: float = 0.10, *, min_count: float = 1, **options: Any) -> Rule:
    """The average cost in US dollars of an LLM call, per agent, over 5 minutes."""
    return _rule(
        {
            "name": "HighCostPerStep",
            "expr": Ratio(
                Increase("agentguard_llm_cost_usd_total"),
                Increase("agentguard_llm_calls_total"),
                min_count,
            ),
            "threshold": threshold,
            "by": ("agent",),
            "window_s": 300,
            "summary": "an LLM call of agent $agent cost $$$value on average over $window "
            "(more than $$$threshold)",
        },
        options,
    )


def cost_per_run(threshold: float = 1.00, **options: Any) -> Rule:
    """The costliest run of each agent, in US dollars, over 5 minutes."""
    return _rule(
        {
            "name": "HighCostPerRun",
            "expr": Max("agentguard_run_cost_usd"),
            "threshold": threshold,
            "by": ("agent",),
            "window_s": 300,
            "summary": "a run of agent $agent cost $$$value (more than $$$threshold)",
        },
        options,
    )


def cost_per_hour(threshold: float, **options: Any) -> Rule:
    """What LLM calls cost in US dollars over the last hour, all agents together."""
    return _rule(
        {
            "name": "HighCostPerHour",
            "expr": Increase("agentguard_llm_cost_usd_total"),
            "threshold": threshold,
            "window_s": 3600,
            "summary": "LLM calls cost $$$value over the last $window (more than $$$threshold)",
        },
        options,
    )


def cost_increase(threshold: float = 0.20, *, min_previous: float = 0.0, **options: Any) -> Rule:
    """The cost of LLM calls over a day against the day before, as a fraction (0.2 = +20%)."""
    return _rule(
        {
            "name": "CostIncrease",
            "expr": Change(Increase("agentguard_llm_cost_usd_total"), min_previous),
            "threshold": threshold,
            "window_s": 86400,
            "summary": "LLM cost over the last $window changed by $value against the one "
            "before (more than $threshold)",
        },
        options,
    )


def max_context_size(threshold: float = 150_000, **options: Any) -> Rule:
    """The largest context (all input tokens of one call), per model, over 5 minutes."""
    return _rule(
        {
            "name": "LargeContext",
            "expr": Max("agentguard_llm_context_tokens"),
            "threshold": threshold,
            "by": ("model",),
            "window_s": 300,
            "summary": "a call to $model sent $value tokens of context (more than $threshold)",
        },
        options,
    )


def min_success_rate(threshold: float = 0.80, *, min_count: float = 5, **options: Any) -> Rule:
    """Successful runs over all runs of each agent, over 15 minutes; at least 5 runs."""
    runs = "agentguard_runs_total"
    return _rule(
        {
            "name": "LowSuccessRate",
            "expr": Ratio(Increase(runs, {"status": "ok"}), Increase(runs), min_count),
            "threshold": threshold,
            "op": "<",
            "by": ("agent",),
            "window_s": 900,
            "for_s": 300,
            "severity": "critical",
            "summary": "only $value of the runs of agent $agent succeeded over $window "
            "(less than $threshold)",
        },
        options,
    )


def cache_hit_ratio_below(threshold: float, *, min_count: float = 10_000, **options: Any) -> Rule:
    """Prompt-cache reads over all input tokens, per model, over 15 minutes.

    At least ``min_count`` input tokens in the window; a model that caches nothing has a ratio
    of 0, so enable this rule for agents that are meant to cache.
    """
    tokens = "agentguard_llm_tokens_total"
    return _rule(
        {
            "name": "LowCacheHitRatio",
            "expr": Ratio(
                Increase(tokens, {"token_type": "cache_read"}),
                Increase(tokens, {"token_type": _INPUT_TYPES}),
                min_count,
            ),
            "threshold": threshold,
            "op": "<",
            "by": ("model",),
            "window_s": 900,
            "for_s": 300,
            "summary": "the prompt-cache hit ratio of $model is $value over $window "
            "(less than $threshold)",
        },
        options,
    )


def breaker_open(**options: Any) -> Rule:
    """A circuit breaker is open (``agentguard_breaker_state == 2``), per breaker."""
    return _rule(
        {
            "name": "BreakerOpen",
            "expr": Gauge("agentguard_breaker_state"),
            "threshold": 2,
            "op": "==",
            "by": ("breaker",),
            "window_s": 60,
            "severity": "critical",
            "summary": "circuit breaker $breaker is open",
        },
        options,
    )


def loop_detected(**options: Any) -> Rule:
    """The loop guard saw a tool-call loop in the last 5 minutes, per agent and tool."""
    return _rule(
        {
            "name": "LoopDetected",
            "expr": Increase("agentguard_loop_detections_total"),
            "threshold": 0,
            "by": ("agent", "tool"),
            "window_s": 300,
            "summary": "agent $agent went round in a loop on tool $tool ($value detections "
            "in $window)",
        },
        options,
    )


def budget_exceeded(**options: Any) -> Rule:
    """A budget (run, session or day) was crossed in the last 15 minutes, per agent and scope."""
    return _rule(
        {
            "name": "BudgetExceeded",
            "expr": Increase("agentguard_budget_exceeded_total"),
            "threshold": 0,
            "by": ("agent", "scope"),
            "window_s": 900,
            "summary": "agent $agent crossed its $scope budget ($value times in $window)",
        },
        options,
    )


BUILTINS: Final[Mapping[str, Callable[..., Rule]]] = {
    "error_rate": error_rate,
    "p95_latency": p95_latency,
    "max_step_time": max_step_time,
    "cost_per_step": cost_per_step,
    "cost_per_run": cost_per_run,
    "cost_per_hour": cost_per_hour,
    "cost_increase": cost_increase,
    "max_context_size": max_context_size,
    "min_success_rate": min_success_rate,
    "cache_hit_ratio_below": cache_hit_ratio_below,
    "breaker_open": breaker_open,
    "loop_detected": loop_detected,
    "budget_exceeded": budget_exceeded,
}
"""Every built-in rule by the name a rules file's ``[builtin]`` table uses."""


def default_rules() -> list[Rule]:
    """Every built-in rule that has a default threshold, with tool variants of the call ones.

    ``cost_per_hour`` and ``cache_hit_ratio_below`` need a threshold of yours; add them
    yourself. Change one with ``dataclasses.replace(rule, severity="critical")``.
    """
    return [
        error_rate(),
        error_rate(of="tool"),
        p95_latency(),
        p95_latency(of="tool"),
        max_step_time(),
        max_step_time(of="tool"),
        cost_per_step(),
        cost_per_run(),
        cost_increase(),
        max_context_size(),
        min_success_rate(),
        breaker_open(),
        loop_detected(),
        budget_exceeded(),
    ]
