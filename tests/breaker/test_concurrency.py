"""No lock across the call; one probe at a time, for threads and for asyncio tasks."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

from agentguard import Bus
from agentguard.events import BreakerStateChanged, Event
from agentguard.testing import FakeClock
from agentguard_breaker import CircuitBreaker, CircuitOpenError

CALLERS = 50


def test_sixteen_slow_calls_run_together_through_a_closed_breaker() -> None:
    breaker = CircuitBreaker("parallel", bus=Bus())
    # Each call returns only once all sixteen are inside the breaker at the same time: a
    # breaker that ran calls one at a time (pybreaker holds a lock around each) breaks it.
    all_inside = threading.Barrier(16, timeout=20)

    @breaker
    def slow() -> None:
        all_inside.wait()

    with ThreadPoolExecutor(16) as pool:
        calls = [pool.submit(slow) for _ in range(16)]
    for call in calls:
        call.result()  # threading.BrokenBarrierError if they did not all get in together
    assert breaker.state == "closed"


def _opened(clock: FakeClock, bus: Bus) -> CircuitBreaker:
    breaker = CircuitBreaker(
        "probe", fail_max=1, reset_timeout_s=30, bus=bus, clock=clock.monotonic
    )

    @breaker
    def down() -> None:
        raise TimeoutError

    with contextlib.suppress(TimeoutError):
        down()
    clock.advance(30)  # the reset timeout is over as the callers arrive
    return breaker


def _changes(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.old_state, e.new_state) for e in events if isinstance(e, BreakerStateChanged)]


def test_fifty_threads_after_the_timeout_make_one_probe() -> None:
    clock, bus, events = FakeClock(), Bus(), list[Event]()
    bus.subscribe(events.append)
    breaker = _opened(clock, bus)
    lock = threading.Lock()
    calls, rejected = [], []
    all_others_rejected = threading.Event()
    barrier = threading.Barrier(CALLERS)

    @breaker
    def probe() -> None:
        calls.append(1)
        all_others_rejected.wait(timeout=5)  # the probe stays in flight until they are in

    def caller() -> None:
        barrier.wait()
        try:
            probe()
        except CircuitOpenError:
            with lock:
                rejected.append(1)
                if len(rejected) == CALLERS - 1:
                    all_others_rejected.set()

    with ThreadPoolExecutor(CALLERS) as pool:
        for future in [pool.submit(caller) for _ in range(CALLERS)]:
            future.result()
    assert len(calls) == 1
    assert len(rejected) == CALLERS - 1
    assert breaker.state == "closed"
    assert _changes(events) == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_fifty_tasks_after_the_timeout_make_one_probe() -> None:
    clock, bus, events = FakeClock(), Bus(), list[Event]()
    bus.subscribe(events.append)
    breaker = _opened(clock, bus)
    calls: list[int] = []
    rejected: list[int] = []

    async def main() -> None:
        all_others_rejected = asyncio.Event()

        @breaker
        async def probe() -> None:
            calls.append(1)
            await asyncio.wait_for(all_others_rejected.wait(), timeout=5)

        async def caller() -> None:
            try:
                await probe()
            except CircuitOpenError:
                rejected.append(1)
                if len(rejected) == CALLERS - 1:
                    all_others_rejected.set()

        await asyncio.gather(*(caller() for _ in range(CALLERS)))

    asyncio.run(main())
    assert len(calls) == 1
    assert len(rejected) == CALLERS - 1
    assert _changes(events) == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
