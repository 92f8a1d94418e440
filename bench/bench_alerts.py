"""Alert rules: the cost of one evaluation, and what rule evaluation costs per event.

A memory store holds 15 minutes of a busy agent fleet: 10 agents, 4 models, 20 tools, runs,
errors, loops, budgets and breakers (every series the built-in rules read). One evaluation
runs the 14 default rules plus ``cost_per_hour`` and ``cache_hit_ratio_below`` (16 rules,
grouped by model, tool, agent or breaker as they are) over it, as the background evaluator
does every 15 s, on its own thread.

Per event, the agent's thread pays only the aggregator's share of the embedded default (the
bus delivering the event to the ``Aggregator``); the evaluation runs elsewhere, so its cost
per event is the evaluation's cost spread over the events of an interval: shown for 100
events a second and the default 15 s interval.
"""

from __future__ import annotations

import random
import time

from agentguard import Bus
from agentguard.events import (
    BreakerStateChanged,
    BudgetExceeded,
    Event,
    LLMCallFinished,
    LoopDetected,
    RunFinished,
    ToolCallFinished,
)
from agentguard.testing import FakeClock
from agentguard_alerts import DEFAULT_INTERVAL_S, Evaluator, builtin, default_rules
from agentguard_metrics import Aggregator, MemoryStore
from bench._harness import Report, ns_per_call, sample_llm_call

COMMAND = "nox -s bench -- alerts   (or: python -m bench alerts)"

AGENTS = [f"agent-{i}" for i in range(10)]
MODELS = ["claude-opus-4-1", "claude-sonnet-4-6", "claude-haiku-4-5", "claude-sonnet-4-5"]
TOOLS = [f"tool_{i}" for i in range(20)]
EVENTS_PER_S = 100
"""The event rate at which the evaluation's cost is spread per event."""


def _events(rng: random.Random, at: float) -> list[Event]:
    agent = rng.choice(AGENTS)
    model = rng.choice(MODELS)
    ok = rng.random() > 0.05
    cost = rng.uniform(0.001, 0.05)
    found: list[Event] = [
        LLMCallFinished(
            model=model,
            agent=agent,
            at_unix_s=at,
            duration_s=rng.lognormvariate(0.0, 0.7),
            ok=ok,
            error_kind=None if ok else "overloaded",
            input_tokens=rng.randint(100, 4000),
            output_tokens=rng.randint(50, 800),
            cache_read_tokens=rng.randint(0, 20000),
            cost_usd=cost,
            input_cost_usd=cost,
            output_cost_usd=0.0,
            cache_read_cost_usd=0.0,
            cache_write_5m_cost_usd=0.0,
            cache_write_1h_cost_usd=0.0,
        ),
        ToolCallFinished(
            tool=rng.choice(TOOLS), agent=agent, at_unix_s=at, duration_s=rng.expovariate(5.0)
        ),
    ]
    if rng.random() < 0.2:
        found.append(
            RunFinished(agent=agent, at_unix_s=at, duration_s=5.0, ok=ok, cost_usd=cost * 5)
        )
    if rng.random() < 0.01:
        found.append(
            LoopDetected(
                agent=agent,
                at_unix_s=at,
                tool=rng.choice(TOOLS),
                pattern="repeat",
                repeats=4,
                action="warn",
            )
        )
    if rng.random() < 0.005:
        found.append(
            BudgetExceeded(agent=agent, at_unix_s=at, scope="run", limit_usd=1.0, spent_usd=1.1)
        )
    if rng.random() < 0.005:
        found.append(
            BreakerStateChanged(
                breaker=model,
                at_unix_s=at,
                old_state="closed",
                new_state="open",
                failure_count=5,
            )
        )
    return found


def _fleet_store(clock: FakeClock, seconds: int = 900, per_s: int = 20) -> MemoryStore:
    store = MemoryStore(clock=clock.time)
    aggregator = Aggregator(store, clock=clock.time, process_id="bench")
    rng = random.Random(7)
    start = clock.time() - seconds
    for second in range(seconds):
        for _ in range(per_s):
            for event in _events(rng, start + second + rng.random()):
                aggregator.record(event)
        if second % 60 == 59:
            aggregator.flush(2.0)
    aggregator.flush(2.0)
    return store


def _evaluation_ns(evaluator: Evaluator, clock: FakeClock, repeat: int = 7) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(10):
            evaluator.evaluate()
            clock.advance(DEFAULT_INTERVAL_S)
        best = min(best, (time.perf_counter() - started) / 10)
    return best * 1e9


def run() -> Report:
    """Measure and return the report."""
    report = Report("alerts: rule evaluation", COMMAND)
    clock = FakeClock(start_unix_s=time.time())
    store = _fleet_store(clock)
    rules = [*default_rules(), builtin.cost_per_hour(5.0), builtin.cache_hit_ratio_below(0.5)]
    series = sum(len(store.series(m)) for rule in rules for m in rule.expr.metrics())
    evaluator = Evaluator(store, rules, bus=Bus(), clock=clock.time)
    evaluation_ns = _evaluation_ns(evaluator, clock)
    report.measured(f"one evaluation: {len(rules)} rules over {series} series (ns)", evaluation_ns)
    per_interval = EVENTS_PER_S * DEFAULT_INTERVAL_S
    report.measured(
        f"evaluation per event at {EVENTS_PER_S} events/s, every {DEFAULT_INTERVAL_S:g} s (ns)",
        evaluation_ns / per_interval,
    )
    bus = Bus()
    aggregator = Aggregator(MemoryStore(), process_id="bench")
    aggregator.attach(bus)
    event = sample_llm_call()
    report.measured(
        "agent's thread per LLM call: bus -> Aggregator (ns)",
        ns_per_call("publish(event)", {"publish": bus.publish, "event": event}, number=20_000),
    )
    aggregator.close()
    return report


if __name__ == "__main__":
    run().print()
