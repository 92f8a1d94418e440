"""Each built-in rule fires on a data set built to trigger it, and not on one built not to."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from agentguard import Bus
from agentguard.events import (
    AlertStateChanged,
    BreakerStateChanged,
    BudgetExceeded,
    Event,
    LLMCallFinished,
    LoopDetected,
    RunFinished,
    ToolCallFinished,
)
from agentguard.testing import capture_events
from agentguard_alerts import Evaluator, Rule, builtin, default_rules
from alerts.conftest import Feed, Recorder

AGENT = "support"


def llm(
    *,
    ok: bool = True,
    duration_s: float = 1.0,
    cost_usd: float = 0.01,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_read_tokens: int = 0,
    cache_write_5m_tokens: int = 0,
) -> LLMCallFinished:
    return LLMCallFinished(
        model="claude-sonnet-4-6",
        agent=AGENT,
        duration_s=duration_s,
        ok=ok,
        error_kind=None if ok else "server_error",
        cost_usd=cost_usd,
        input_cost_usd=cost_usd,
        output_cost_usd=0.0,
        cache_read_cost_usd=0.0,
        cache_write_5m_cost_usd=0.0,
        cache_write_1h_cost_usd=0.0,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read_tokens,
        cache_write_5m_tokens=cache_write_5m_tokens,
    )


def tool(*, ok: bool = True, duration_s: float = 0.1) -> ToolCallFinished:
    return ToolCallFinished(
        tool="search",
        agent=AGENT,
        duration_s=duration_s,
        ok=ok,
        error_kind=None if ok else "tool_error",
    )


def run(*, ok: bool = True, cost_usd: float = 0.1) -> RunFinished:
    return RunFinished(agent=AGENT, duration_s=3.0, ok=ok, cost_usd=cost_usd)


def breaker(new_state: str) -> BreakerStateChanged:
    return BreakerStateChanged(
        breaker="anthropic",
        old_state="closed",
        new_state=new_state,  # type: ignore[arg-type]  # the states are literals of the catalog
        failure_count=5,
    )


@dataclass
class Case:
    rule: Callable[[], Rule]
    fires: Sequence[Event]
    quiet: Sequence[Event]
    labels: dict[str, str] = field(default_factory=dict)
    before: Sequence[Event] = ()
    """Published one window earlier, before either data set (for comparisons)."""


CASES: dict[str, Case] = {
    "error_rate": Case(
        builtin.error_rate,
        fires=[llm()] * 17 + [llm(ok=False)] * 3,
        quiet=[llm()] * 19 + [llm(ok=False)],
    ),
    "error_rate_few_calls_is_no_data": Case(
        builtin.error_rate, fires=[llm()] * 8 + [llm(ok=False)] * 2, quiet=[llm(ok=False)] * 9
    ),
    "tool_error_rate": Case(
        lambda: builtin.error_rate(of="tool"),
        fires=[tool()] * 15 + [tool(ok=False)] * 5,
        quiet=[tool()] * 20,
    ),
    "p95_latency": Case(
        builtin.p95_latency,
        fires=[llm(duration_s=6.0)] * 20,
        quiet=[llm(duration_s=6.0)] + [llm(duration_s=1.0)] * 39,
        labels={"model": "claude-sonnet-4-6"},
    ),
    "tool_p95_latency": Case(
        lambda: builtin.p95_latency(of="tool"),
        fires=[tool(duration_s=7.5)] * 10,
        quiet=[tool(duration_s=4.0)] * 10,
        labels={"tool": "search"},
    ),
    "max_step_time": Case(
        builtin.max_step_time,
        fires=[llm(duration_s=1.0)] * 9 + [llm(duration_s=31.0)],
        quiet=[llm(duration_s=29.0)] * 10,
        labels={"model": "claude-sonnet-4-6"},
    ),
    "tool_max_step_time": Case(
        lambda: builtin.max_step_time(of="tool"),
        fires=[tool(duration_s=45.0)],
        quiet=[tool(duration_s=20.0)],
        labels={"tool": "search"},
    ),
    "cost_per_step": Case(
        builtin.cost_per_step,
        fires=[llm(cost_usd=0.25)] * 4,
        quiet=[llm(cost_usd=0.05)] * 4,
        labels={"agent": AGENT},
    ),
    "cost_per_run": Case(
        builtin.cost_per_run,
        fires=[run(cost_usd=0.2), run(cost_usd=1.5)],
        quiet=[run(cost_usd=0.9)] * 3,
        labels={"agent": AGENT},
    ),
    "cost_per_hour": Case(
        lambda: builtin.cost_per_hour(5.0),
        fires=[llm(cost_usd=0.5)] * 12,
        quiet=[llm(cost_usd=0.5)] * 8,
    ),
    "cost_increase": Case(
        builtin.cost_increase,
        before=[llm(cost_usd=1.0)] * 10,
        fires=[llm(cost_usd=1.0)] * 13,
        quiet=[llm(cost_usd=1.0)] * 11,
    ),
    "max_context_size": Case(
        builtin.max_context_size,
        fires=[llm(input_tokens=10_000, cache_read_tokens=150_000)],
        quiet=[llm(input_tokens=10_000, cache_read_tokens=90_000)] * 5,
        labels={"model": "claude-sonnet-4-6"},
    ),
    "min_success_rate": Case(
        builtin.min_success_rate,
        fires=[run()] * 7 + [run(ok=False)] * 3,
        quiet=[run()] * 9 + [run(ok=False)],
        labels={"agent": AGENT},
    ),
    "cache_hit_ratio_below": Case(
        lambda: builtin.cache_hit_ratio_below(0.5),
        fires=[llm(input_tokens=8_000, cache_read_tokens=1_000, cache_write_5m_tokens=1_000)],
        quiet=[llm(input_tokens=2_000, output_tokens=50_000, cache_read_tokens=8_000)],
        labels={"model": "claude-sonnet-4-6"},
    ),
    "breaker_open": Case(
        builtin.breaker_open,
        fires=[breaker("open")],
        quiet=[breaker("half_open")],
        labels={"breaker": "anthropic"},
    ),
    "loop_detected": Case(
        builtin.loop_detected,
        fires=[
            LoopDetected(agent=AGENT, tool="search", pattern="repeat", repeats=4, action="warn")
        ],
        quiet=[tool()] * 5,
        labels={"agent": AGENT, "tool": "search"},
    ),
    "budget_exceeded": Case(
        builtin.budget_exceeded,
        fires=[BudgetExceeded(agent=AGENT, scope="run", limit_usd=0.5, spent_usd=0.6)],
        quiet=[run(cost_usd=0.4)],
        labels={"agent": AGENT, "scope": "run"},
    ),
}


def _evaluate(feed: Feed, case: Case, events: Sequence[Event]) -> tuple[Rule, Recorder, list[str]]:
    rule = case.rule()
    recorder = Recorder()
    bus = Bus(name="alert-states")
    evaluator = Evaluator(feed.store, [rule], recorder, bus=bus, clock=feed.clock.time)
    if case.before:
        feed.publish(*case.before)
        feed.clock.advance(rule.window_s + 60)  # past the current window's first minute
    feed.publish(*events)
    with capture_events(bus) as states:
        evaluator.evaluate()
        feed.clock.advance(rule.for_s)
        evaluator.evaluate()
    return rule, recorder, [f"{e.rule}:{e.state}" for e in states.of(AlertStateChanged)]


@pytest.mark.parametrize("name", list(CASES))
def test_the_rule_fires_on_data_built_to_trigger_it(feed: Feed, name: str) -> None:
    case = CASES[name]
    if name == "error_rate_few_calls_is_no_data":
        rule, recorder, states = _evaluate(feed, case, case.quiet)
        assert states == [], "nine calls are below min_count: no data, no alert"
        return
    rule, recorder, states = _evaluate(feed, case, case.fires)
    assert states == [f"{rule.name}:firing"]
    (notification,) = recorder.take()
    (alert,) = notification.alerts
    assert alert.status == "firing"
    assert alert.labels["alertname"] == rule.name
    assert {k: alert.labels[k] for k in case.labels} == case.labels
    assert alert.annotations["summary"]
    assert re.search(r"\$[A-Za-z_{]", alert.annotations["summary"]) is None, "placeholders left"


@pytest.mark.parametrize("name", [n for n in CASES if n != "error_rate_few_calls_is_no_data"])
def test_the_rule_stays_quiet_on_data_built_not_to(feed: Feed, name: str) -> None:
    case = CASES[name]
    _, recorder, states = _evaluate(feed, case, case.quiet)
    assert states == []
    assert recorder.take() == []


def test_defaults_come_from_the_seeds() -> None:
    thresholds = {rule.name: (rule.op, float(rule.threshold)) for rule in default_rules()}
    assert len(thresholds) == len(default_rules()), "default rule names are unique"
    assert {
        "HighErrorRate": (">", 0.05),  # PerformanceAlerting maxErrorRate 5.0 (%)
        "HighLatencyP95": (">", 5.0),  # PerformanceAlerting maxLatency 5.0 (s)
        "SlowStep": (">", 30.0),  # PerformanceAlert max_step_time 30.0
        "HighCostPerStep": (">", 0.10),  # PerformanceAlert max_cost_per_step 0.10
        "HighCostPerRun": (">", 1.00),  # metrics_config max_cost 1.00
        "LargeContext": (">", 150_000.0),  # PerformanceAlert max_context_size
        "LowSuccessRate": ("<", 0.80),  # PerformanceAlert min_success_rate 0.80
        "CostIncrease": (">", 0.20),  # PerformanceAlerting maxCostIncrease 20 (%)
        "BreakerOpen": ("==", 2.0),
    }.items() <= thresholds.items()


def test_rules_without_a_seed_threshold_require_one() -> None:
    with pytest.raises(TypeError, match="threshold"):
        builtin.cost_per_hour()  # type: ignore[call-arg]  # the point of the test
    with pytest.raises(TypeError, match="threshold"):
        builtin.cache_hit_ratio_below()  # type: ignore[call-arg]  # the point of the test


def test_a_built_in_takes_rule_options() -> None:
    rule = builtin.loop_detected(severity="critical", window_s=600, labels={"team": "agents"})
    assert (rule.severity, rule.window_s, rule.labels) == ("critical", 600, {"team": "agents"})
    assert rule.expr == builtin.loop_detected().expr
