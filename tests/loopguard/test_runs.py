from __future__ import annotations

import asyncio
import threading
import tracemalloc

import pytest

from agentguard import Bus, bind_context
from agentguard.context import run_context
from agentguard.events import LoopDetected
from agentguard.testing import capture_events
from agentguard_loopguard import LoopGuard, ToolLoopDetected


@pytest.fixture
def bus() -> Bus:
    return Bus(name="test")


def test_runs_are_judged_apart(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    with capture_events(bus, to=LoopDetected) as events:
        for _ in range(3):
            with run_context("agent", run_id="one"):
                guard.check("search", {"q": "x"})
            with run_context("agent", run_id="two"):
                guard.check("search", {"q": "x"})
        assert events == []
        with run_context("agent", run_id="one"):
            guard.check("search", {"q": "x"})
            with pytest.raises(ToolLoopDetected) as stopped:
                guard.check("search", {"q": "x"})
    assert stopped.value.run_id == "one"
    assert [(e.run_id, e.action) for e in events.of(LoopDetected)] == [
        ("one", "warn"),
        ("one", "stop"),
    ]
    state = guard.state("two")
    assert state is not None
    assert state.repeat_run == 3


def test_calls_outside_any_run_share_one_anonymous_state(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    for _ in range(4):
        guard.check("x")
    with run_context("agent"):
        assert guard.check("x") is None  # a run starts clean
    with pytest.raises(ToolLoopDetected) as stopped:
        guard.check("x")
    assert stopped.value.run_id is None
    guard.forget()
    assert guard.check("x") is None


def test_concurrent_runs_in_asyncio_gather_do_not_mix(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)

    @guard.watch
    async def poll(job: int) -> str:
        await asyncio.sleep(0)
        return "running"

    async def agent(name: str, calls: int) -> int:
        done = 0
        with run_context(name, run_id=name):
            try:
                for _ in range(calls):
                    await poll(1)
                    done += 1
            except ToolLoopDetected:
                pass
        return done

    async def main() -> list[int]:
        return await asyncio.gather(*(agent(f"run{i}", 4) for i in range(20)), agent("long", 9))

    with capture_events(bus, to=LoopDetected) as events:
        done = asyncio.run(main())
    assert done == [4] * 20 + [4]
    stops = [e for e in events.of(LoopDetected) if e.action == "stop"]
    assert [e.run_id for e in stops] == ["long"]
    assert len(events.of(LoopDetected)) == 22


def test_threads_share_a_guard_safely(bus: Bus) -> None:
    guard = LoopGuard(bus=bus, max_runs=100)
    errors: list[BaseException] = []
    stops: list[str] = []

    def work(index: int) -> None:
        with run_context("agent", run_id=f"t{index}"):
            try:
                for step in range(300):
                    guard.check("read", {"i": step})
                for _ in range(5):
                    guard.check("read", {"i": "same"})
            except ToolLoopDetected as exc:
                stops.append(str(exc.run_id))
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=bind_context(work), args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(stops) == sorted(f"t{i}" for i in range(8))


def test_memory_stays_bounded_over_10000_runs_and_100000_calls(bus: Bus) -> None:
    guard = LoopGuard(bus=bus, max_history=50, max_runs=500)
    blob = {"text": "y" * 1000}

    def load(first: int, runs: int) -> None:
        for number in range(first, first + runs):
            with run_context("agent", run_id=f"run{number}"):
                for step in range(10):
                    guard.check("tool", {"blob": blob, "step": step}, result=step)

    load(0, 4_000)
    tracemalloc.start()
    try:
        load(4_000, 3_000)
        middle, _ = tracemalloc.get_traced_memory()
        load(7_000, 3_000)
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert guard.tracked_runs() == 500
    assert guard.state("run0") is None
    assert guard.state("run9999") is not None
    assert end - middle < 0.05 * middle  # the second 3,000 runs grew nothing: old runs dropped

    with run_context("agent", run_id="busy"):
        for step in range(100_000):
            guard.check("tool", {"step": step}, result=step)
    state = guard.state("busy")
    assert state is not None
    assert len(state.calls) == 50
    assert len(state._results) <= 100
