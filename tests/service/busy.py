"""A busy, realistic hour of three agents, for the dashboard page and its screenshot.

Unlike ``dataset.py`` (a handful of events whose figures are worked out by hand), this is
what a service sees in production: runs of three agents on three models, tool calls,
prompt caching that warms up, a burst of 429/529 errors that opens and closes the
``anthropic`` breaker and fires then resolves an alert, a tool loop the guard warns about
and then stops, a breaker open right now and an alert still firing. Deterministic for a
seed, and placed relative to ``now`` (the wall clock: the page's charts end at now).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from agentguard.events import (
    AlertState,
    AlertStateChanged,
    BreakerRejected,
    BreakerState,
    BreakerStateChanged,
    Event,
    LLMCallFinished,
    LoopAction,
    LoopDetected,
    LoopPattern,
    PromptCacheUsage,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from agentguard_metrics import Aggregator, MemoryStore

HOUR = 3600.0


@dataclass(frozen=True)
class Model:
    """A model and its prices in US dollars per million tokens."""

    name: str
    input: float
    output: float
    median_s: float

    @property
    def cache_read(self) -> float:
        return self.input * 0.1

    @property
    def cache_write_5m(self) -> float:
        return self.input * 1.25


SONNET = Model("claude-sonnet-4-5", 3.0, 15.0, 2.4)
HAIKU = Model("claude-haiku-4-5", 1.0, 5.0, 0.8)
OPUS = Model("claude-opus-4-1", 15.0, 75.0, 5.5)

AGENTS: dict[str, tuple[Model, ...]] = {
    "support": (SONNET, SONNET, HAIKU),
    "research": (OPUS, SONNET),
    "billing": (HAIKU,),
}
TOOLS = ("search", "fetch_url", "lookup_order", "send_email")
BURST = (-35 * 60.0, -30 * 60.0)
"""When the provider answered 429 and 529 (seconds from now)."""


def _llm(
    rng: random.Random, model: Model, agent: str, at: float, warmth: float, in_burst: bool
) -> list[Event]:
    if in_burst and rng.random() < 0.55:
        kind = rng.choice(("rate_limited", "rate_limited", "overloaded"))
        return [
            LLMCallFinished(
                model=model.name,
                agent=agent,
                at_unix_s=at,
                duration_s=rng.uniform(0.2, 0.6),
                ok=False,
                error_kind=kind,
                retries=2,
            )
        ]
    prefix = rng.randint(2500, 6000)
    read = int(prefix * warmth) if rng.random() < 0.9 else 0
    written = prefix - read if read else prefix
    fresh = rng.randint(300, 1800)
    output = rng.randint(150, 1100)
    m = 1e-6
    costs = (
        fresh * model.input * m,
        output * model.output * m,
        read * model.cache_read * m,
        written * model.cache_write_5m * m,
    )
    duration = model.median_s * rng.lognormvariate(0.0, 0.35) * (1.6 if in_burst else 1.0)
    saved = (
        read * (model.input - model.cache_read) * m
        - written * (model.cache_write_5m - model.input) * m
    )
    return [
        LLMCallFinished(
            model=model.name,
            agent=agent,
            at_unix_s=at,
            duration_s=duration,
            time_to_first_token_s=duration * 0.3,
            input_tokens=fresh,
            output_tokens=output,
            cache_read_tokens=read,
            cache_write_5m_tokens=written,
            cost_usd=sum(costs),
            input_cost_usd=costs[0],
            output_cost_usd=costs[1],
            cache_read_cost_usd=costs[2],
            cache_write_5m_cost_usd=costs[3],
            cache_write_1h_cost_usd=0.0,
            stop_reason="end_turn",
        ),
        PromptCacheUsage(
            model=model.name,
            agent=agent,
            at_unix_s=at,
            hit_ratio=read / (read + written + fresh),
            read_tokens=read,
            write_tokens=written,
            uncached_tokens=fresh,
            saved_usd=saved,
        ),
    ]


def _tool(rng: random.Random, agent: str, at: float) -> ToolCallFinished:
    name = rng.choice(TOOLS)
    slow = {"search": 0.35, "fetch_url": 0.9, "lookup_order": 0.08, "send_email": 0.2}[name]
    ok = rng.random() > 0.04
    return ToolCallFinished(
        tool=name,
        agent=agent,
        at_unix_s=at,
        duration_s=slow * rng.lognormvariate(0.0, 0.5),
        ok=ok,
        error_kind=None if ok else rng.choice(("timeout", "connection")),
    )


def _runs(rng: random.Random, now: float, start: float) -> list[Event]:
    found: list[Event] = []
    at = start
    while at < now - 20:
        agent = rng.choice(("support", "support", "research", "billing"))
        models = AGENTS[agent]
        found.append(RunStarted(agent=agent, at_unix_s=at))
        t = at
        # Prompt caches warm up over the first quarter-hour of the period shown.
        warmth = min(0.92, max(0.0, (at - start) / 900.0))
        for _ in range(rng.randint(2, 5)):
            t += rng.uniform(0.5, 3.0)
            in_burst = BURST[0] <= t - now < BURST[1]
            found += _llm(rng, rng.choice(models), agent, t, warmth, in_burst)
            for _ in range(rng.randint(0, 2)):
                t += rng.uniform(0.2, 1.5)
                found.append(_tool(rng, agent, t))
        found.append(RunFinished(agent=agent, at_unix_s=t + 0.5, duration_s=t + 0.5 - at, ok=True))
        at += rng.expovariate(1 / 14.0)
    return found


def _incidents(now: float) -> list[Event]:
    def ago(minutes: float) -> float:
        return now - minutes * 60

    def breaker(
        name: str, old: BreakerState, new: BreakerState, minutes: float
    ) -> BreakerStateChanged:
        return BreakerStateChanged(
            breaker=name,
            old_state=old,
            new_state=new,
            failure_count=5,
            agent=None,
            at_unix_s=ago(minutes),
        )

    def alert(rule: str, state: AlertState, minutes: float) -> AlertStateChanged:
        return AlertStateChanged(
            rule=rule,
            state=state,
            value=1.0,
            agent=None,
            at_unix_s=ago(minutes),
        )

    def loop(tool: str, pattern: LoopPattern, action: LoopAction, minutes: float) -> LoopDetected:
        return LoopDetected(
            tool=tool,
            pattern=pattern,
            repeats=4,
            action=action,
            agent="research",
            at_unix_s=ago(minutes),
        )

    return [
        alert("HighErrorRate", "firing", 34),
        breaker("anthropic", "closed", "open", 33),
        *(
            BreakerRejected(breaker="anthropic", agent=None, at_unix_s=ago(33 - i / 10))
            for i in range(9)
        ),
        breaker("anthropic", "open", "half_open", 32),
        breaker("anthropic", "half_open", "closed", 31),
        alert("HighErrorRate", "resolved", 29),
        loop("search", "repeat", "warn", 25),
        loop("search", "repeat", "stop", 24),
        loop("fetch_url", "polling", "warn", 12),
        alert("CostBurnRate", "firing", 8),
        breaker("web-fetch", "closed", "open", 4),
        RunStarted(agent="research", at_unix_s=ago(2)),
        RunStarted(agent="support", at_unix_s=ago(1)),
    ]


def events(now: float, seed: int = 7) -> list[Event]:
    """The last hour and a half before ``now`` (the half hour before for the cost trend)."""
    rng = random.Random(seed)
    found = _runs(rng, now, now - 1.5 * HOUR) + _incidents(now)
    return sorted(found, key=lambda e: e.at_unix_s)


def build(now: float, seed: int = 7) -> MemoryStore:
    """A memory store on the wall clock holding :func:`events`, flushed."""
    store = MemoryStore(liveness_s=HOUR)
    aggregator = Aggregator(store, process_id="busy")
    for event in events(now, seed):
        aggregator.record(event)
    assert aggregator.flush(5.0)
    return store
