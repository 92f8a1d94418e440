"""The bus: publish costs against blinker in the same run (DESIGN.md P1, P2)."""

from __future__ import annotations

from collections.abc import Callable

import blinker

from agentguard import Bus
from agentguard.events import (
    EVENT_TYPES,
    AlertStateChanged,
    BreakerRejected,
    BreakerStateChanged,
    BudgetExceeded,
    ErrorClassified,
    Event,
    LLMCallFinished,
    LoopDetected,
    PromptCacheRegressed,
    PromptCacheUsage,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from bench._harness import Report, ns_per_call

COMMAND = "nox -s bench -- bus   (or: python -m bench bus)"


def _noop(event: object) -> None:
    return None


def _builders() -> dict[type[Event], Callable[[], Event]]:
    """One way to build each event, with the fields a producer would fill."""
    return {
        RunStarted: RunStarted,
        RunFinished: lambda: RunFinished(duration_s=1.0, ok=True, cost_usd=0.01),
        LLMCallFinished: lambda: LLMCallFinished(
            model="claude-sonnet-4-5",
            input_tokens=1200,
            output_tokens=300,
            cache_read_tokens=9000,
            cost_usd=0.0123,
            duration_s=1.2,
            stop_reason="end_turn",
            request_id="req_1",
        ),
        ToolCallFinished: lambda: ToolCallFinished(tool="search", duration_s=0.2),
        PromptCacheUsage: lambda: PromptCacheUsage(
            model="m",
            hit_ratio=0.9,
            read_tokens=9000,
            write_tokens=0,
            uncached_tokens=1000,
            saved_usd=0.02,
        ),
        PromptCacheRegressed: lambda: PromptCacheRegressed(
            model="m", baseline_ratio=0.9, current_ratio=0.2
        ),
        ErrorClassified: lambda: ErrorClassified(
            source="llm",
            error_kind="rate_limited",
            retryable=True,
            exception_type="anthropic.RateLimitError",
            status_code=429,
            retry_after_s=2.0,
        ),
        BreakerStateChanged: lambda: BreakerStateChanged(
            breaker="anthropic", old_state="closed", new_state="open", failure_count=5
        ),
        BreakerRejected: lambda: BreakerRejected(breaker="anthropic"),
        LoopDetected: lambda: LoopDetected(
            tool="search", pattern="repeat", repeats=5, action="warn"
        ),
        BudgetExceeded: lambda: BudgetExceeded(scope="run", limit_usd=1.0, spent_usd=1.02),
        AlertStateChanged: lambda: AlertStateChanged(
            rule="error_rate", state="firing", value=0.2, labels={"agent": "support"}
        ),
    }


def run() -> Report:
    """Measure and return the report."""
    report = Report("bus: publish (DESIGN.md P1, P2)", COMMAND)
    event = ToolCallFinished(tool="search", duration_s=0.2)

    bus = Bus()
    no_subscriber = ns_per_call("publish(event)", {"publish": bus.publish, "event": event})
    empty_signal = blinker.Signal()
    blinker_zero = ns_per_call("send(event)", {"send": empty_signal.send, "event": event})
    report.target("P1 publish, no subscriber", no_subscriber, 100, "ns")
    report.measured("    reference: blinker Signal.send, 0 receivers", blinker_zero)

    one = Bus()
    one.subscribe(_noop)
    one_subscriber = ns_per_call("publish(event)", {"publish": one.publish, "event": event})
    signal = blinker.Signal()
    signal.connect(_noop)
    blinker_one = ns_per_call("send(event)", {"send": signal.send, "event": event})
    hand = ns_per_call(
        "for handler in handlers: handler(event)", {"handlers": (_noop,), "event": event}
    )
    report.measured("publish, one no-op subscriber", one_subscriber)
    report.measured("    reference: blinker Signal.send, 1 receiver", blinker_one)
    report.measured("    reference: a hand-written loop over 1 handler", hand)
    report.target(
        "P2 publish to one subscriber / blinker send to one",
        one_subscriber / blinker_one,
        0.25,
        "x",
    )

    three = Bus()
    for _ in range(3):
        three.subscribe(_noop)
    report.measured(
        "publish, three no-op subscribers",
        ns_per_call("publish(event)", {"publish": three.publish, "event": event}),
    )

    builders = _builders()
    assert set(builders) == set(EVENT_TYPES), "a new event needs a builder here"
    for cls, build in builders.items():
        report.measured(f"build {cls.__name__}", ns_per_call("build()", {"build": build}))
    return report
