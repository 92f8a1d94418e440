from __future__ import annotations

import asyncio

import pytest

from agentguard import Bus, default_bus
from agentguard.events import BreakerRejected, Event, ToolCallFinished
from agentguard.testing import FakeClock, StrictBus, capture_events


def test_capture_events_sees_the_default_bus_inside_the_block_only() -> None:
    with capture_events() as events:
        default_bus.publish(ToolCallFinished(tool="t", duration_s=1.0))
        default_bus.publish(BreakerRejected(breaker="b"))
    default_bus.publish(BreakerRejected(breaker="after"))
    assert events.kinds() == ["tool.call", "breaker.rejected"]
    assert [e.breaker for e in events.of(BreakerRejected)] == ["b"]


def test_capture_events_on_another_bus_and_class() -> None:
    bus = Bus()
    with capture_events(bus, to=BreakerRejected) as events:
        bus.publish(ToolCallFinished(tool="t", duration_s=1.0))
        bus.publish(BreakerRejected(breaker="b"))
    assert events.kinds() == ["breaker.rejected"]


def test_strict_bus_re_raises_handler_errors() -> None:
    bus = StrictBus()

    def explode(_: Event) -> None:
        raise ValueError("bad handler")

    bus.subscribe(explode)
    with pytest.raises(ValueError, match="bad handler"):
        bus.publish(BreakerRejected(breaker="b"))


def test_strict_bus_raises_async_handler_errors_from_drain() -> None:
    bus = StrictBus()

    async def explode(_: Event) -> None:
        raise ValueError("bad async handler")

    async def main() -> None:
        bus.subscribe(explode)
        bus.publish(BreakerRejected(breaker="b"))
        await bus.drain()

    with pytest.raises(ValueError, match="bad async handler"):
        asyncio.run(main())


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(start_unix_s=100.0)
    start = clock.monotonic()
    clock.sleep(2.5)
    assert clock.time() == 102.5
    assert clock.monotonic() - start == 2.5
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)
