"""A hand-built data set: known events through a real Aggregator into a MemoryStore.

The clock stands at ``NOW`` (2026-01-01T02:00:30Z). A ``timeframe=1h`` query at ``1m`` reads
the 60 steps from 01:01 to 02:01; the figures below are worked out by hand from the events.

| when (UTC)  | step | event                                                                 |
|-------------|------|-----------------------------------------------------------------------|
| 00:30:00    | -    | LLM sonnet ok 1.0 s, cost 0.5 (input): the previous period           |
| 01:05:00    | 4    | run of support started                                                |
| 01:10:05    | 9    | LLM sonnet ok 1.0 s, agent support, tokens 1000/200/3000 read, $0.875 |
| 01:10:30    | 9    | LLM sonnet failed 3.0 s (rate_limited), agent support, unpriced       |
| 01:20:10    | 19   | tool search ok 0.5 s (support); tool search failed 1.5 s (billing)   |
| 01:30:00    | 29   | LLM haiku ok 0.25 s, agent billing, 2000 input, 4000 written, $0.75   |
| 01:40:00    | 39   | breaker anthropic opened; one rejection; search loop warned          |
| 01:45:00    | 44   | run of support finished ok                                            |
| 01:50:00    | 49   | run of billing started (still running)                                |
"""

from __future__ import annotations

from collections.abc import Sequence

from agentguard.events import (
    BreakerRejected,
    BreakerStateChanged,
    Event,
    LLMCallFinished,
    LoopDetected,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from agentguard.testing import FakeClock
from agentguard_metrics import Aggregator, MemoryStore

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
NOW = T0 + 2 * 3600 + 30
WINDOW_START = T0 + 3600 + 60  # 01:01:00, the first step of 1h at 1m


def at(hours: int, minutes: int, seconds: int = 0) -> float:
    """A time on 2026-01-01, UTC."""
    return T0 + hours * 3600 + minutes * 60 + seconds


def llm(
    when: float,
    *,
    model: str = "sonnet",
    agent: str | None = "support",
    duration_s: float = 1.0,
    ok: bool = True,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_read_tokens: int = 0,
    cache_write_5m_tokens: int = 0,
    costs: tuple[float, float, float, float, float] | None = None,
) -> LLMCallFinished:
    """An LLM call; ``costs`` is (input, output, cache_read, cache_write_5m, cache_write_1h)."""
    priced = costs is not None
    c = costs or (0.0, 0.0, 0.0, 0.0, 0.0)
    return LLMCallFinished(
        model=model,
        agent=agent,
        at_unix_s=when,
        duration_s=duration_s,
        ok=ok,
        error_kind=None if ok else "rate_limited",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read_tokens,
        cache_write_5m_tokens=cache_write_5m_tokens,
        cost_usd=sum(c) if priced else None,
        input_cost_usd=c[0] if priced else None,
        output_cost_usd=c[1] if priced else None,
        cache_read_cost_usd=c[2] if priced else None,
        cache_write_5m_cost_usd=c[3] if priced else None,
        cache_write_1h_cost_usd=c[4] if priced else None,
    )


def tool(
    when: float,
    *,
    name: str = "search",
    agent: str | None = "support",
    duration_s: float,
    ok: bool = True,
) -> ToolCallFinished:
    """A tool call."""
    return ToolCallFinished(
        tool=name,
        agent=agent,
        at_unix_s=when,
        duration_s=duration_s,
        ok=ok,
        error_kind=None if ok else "timeout",
    )


def events() -> list[Event]:
    """The events of the table in the module docstring."""
    return [
        llm(at(0, 30), costs=(0.5, 0.0, 0.0, 0.0, 0.0)),
        RunStarted(agent="support", at_unix_s=at(1, 5)),
        llm(
            at(1, 10, 5),
            input_tokens=1000,
            output_tokens=200,
            cache_read_tokens=3000,
            costs=(0.25, 0.5, 0.125, 0.0, 0.0),
        ),
        llm(at(1, 10, 30), duration_s=3.0, ok=False),
        tool(at(1, 20, 10), duration_s=0.5),
        tool(at(1, 20, 10), agent="billing", duration_s=1.5, ok=False),
        llm(
            at(1, 30),
            model="haiku",
            agent="billing",
            duration_s=0.25,
            input_tokens=2000,
            cache_write_5m_tokens=4000,
            costs=(0.5, 0.0, 0.0, 0.25, 0.0),
        ),
        BreakerStateChanged(
            breaker="anthropic",
            old_state="closed",
            new_state="open",
            failure_count=5,
            agent=None,
            at_unix_s=at(1, 40),
        ),
        BreakerRejected(breaker="anthropic", agent=None, at_unix_s=at(1, 40)),
        LoopDetected(
            tool="search",
            pattern="repeat",
            repeats=4,
            action="warn",
            agent="support",
            at_unix_s=at(1, 40),
        ),
        RunFinished(agent="support", duration_s=2400.0, ok=True, at_unix_s=at(1, 45)),
        RunStarted(agent="billing", at_unix_s=at(1, 50)),
    ]


def feed(
    store: MemoryStore, clock: FakeClock, items: Sequence[Event], process_id: str = "dataset"
) -> None:
    """Aggregate ``items`` and flush them into ``store`` (one batch from ``process_id``)."""
    aggregator = Aggregator(store, clock=clock.time, process_id=process_id)
    for event in items:
        aggregator.record(event)
    assert aggregator.flush(2.0)


def build(clock: FakeClock) -> MemoryStore:
    """The data set in a fresh memory store on ``clock``, which is moved to :data:`NOW`."""
    clock.advance(NOW - clock.time())
    store = MemoryStore(clock=clock.time, liveness_s=3600.0)
    feed(store, clock, events())
    return store
