from __future__ import annotations

import asyncio

import pytest

from agentguard import Bus
from agentguard.events import LoopDetected
from agentguard.testing import capture_events
from agentguard_loopguard import LoopGuard, ToolLoopDetected, max_repeated_errors


@pytest.fixture
def guard() -> LoopGuard:
    return LoopGuard(bus=Bus(name="test"))


def test_watch_refuses_the_call_that_would_stop_before_it_runs(guard: LoopGuard) -> None:
    ran: list[str] = []

    @guard.watch
    def search(query: str, limit: int = 10) -> list[str]:
        ran.append(query)
        return [query] * limit

    for _ in range(3):
        search("x")
    search(query="x", limit=10)  # the same call: defaults and keywords bound alike
    with pytest.raises(ToolLoopDetected) as stopped:
        search("x")
    assert ran == ["x"] * 4
    assert stopped.value.tool == "search"
    assert search.__name__ == "search"


def test_watch_with_a_name_and_distinct_arguments(guard: LoopGuard) -> None:
    @guard.watch("web.search")
    def search(query: str) -> str:
        return query

    for number in range(20):
        assert search(f"q{number}") == f"q{number}"
    for _ in range(4):
        search("same")
    with pytest.raises(ToolLoopDetected) as stopped:
        search("same")
    assert stopped.value.tool == "web.search"


def test_watch_records_errors_and_refuses_an_exact_retry() -> None:
    bus = Bus(name="test")
    guard = LoopGuard(max_repeated_errors(2), bus=bus)
    attempts: list[int] = []

    @guard.watch
    def fetch(url: str) -> str:
        attempts.append(1)
        raise ConnectionError("refused")

    with capture_events(bus, to=LoopDetected) as events:
        for _ in range(2):
            with pytest.raises(ConnectionError):
                fetch("u")
        with pytest.raises(ToolLoopDetected):
            fetch("u")
    assert len(attempts) == 2
    assert [e.action for e in events.of(LoopDetected)] == ["warn", "stop"]


def test_watch_on_coroutines(guard: LoopGuard) -> None:
    ran: list[int] = []

    @guard.watch
    async def status(job: int) -> str:
        ran.append(job)
        await asyncio.sleep(0)
        return "running"

    async def main() -> None:
        for _ in range(4):
            assert await status(1) == "running"
        with pytest.raises(ToolLoopDetected):
            await status(1)

    asyncio.run(main())
    assert ran == [1, 1, 1, 1]


def test_watch_on_async_errors_settles_them() -> None:
    guard = LoopGuard(max_repeated_errors(2), bus=Bus(name="test"))

    @guard.watch
    async def fetch(url: str) -> str:
        raise TimeoutError("slow")

    async def main() -> None:
        for _ in range(2):
            with pytest.raises(TimeoutError):
                await fetch("u")
        with pytest.raises(ToolLoopDetected):
            await fetch("u")

    asyncio.run(main())


def test_watch_survives_arguments_that_do_not_bind(guard: LoopGuard) -> None:
    @guard.watch
    def tool(a: int) -> int:
        return a

    with pytest.raises(TypeError):
        tool(1, 2, 3)  # type: ignore[call-arg]  # the misuse under test


def test_watch_misuse_fails_at_once(guard: LoopGuard) -> None:
    with pytest.raises(TypeError, match="function or a tool name"):
        guard.watch(42)  # type: ignore[call-overload]  # the misuse under test
    with pytest.raises(ValueError, match="must not be empty"):
        guard.watch("")
