"""``classified``: one ErrorClassified per exception, the same exception re-raised."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Generator

import pytest

from agentguard import Bus
from agentguard.events import ErrorClassified
from agentguard.testing import StrictBus, capture_events
from agentguard_classify import Classified, Classifier, ErrorKind, classified

from .conftest import ApiError


def test_a_decorated_function_publishes_once_and_reraises_the_same_object(bus: Bus) -> None:
    raised = ValueError("bad input")

    @classified(source="tool", bus=bus)
    def lookup(order: int) -> str:
        raise raised

    with (
        capture_events(bus, to=ErrorClassified) as events,
        pytest.raises(ValueError, match="bad input") as caught,
    ):
        lookup(1)
    assert caught.value is raised
    assert caught.value.args == ("bad input",)
    [event] = events
    assert isinstance(event, ErrorClassified)
    assert (event.source, event.error_kind, event.retryable) == ("tool", "tool_error", False)
    assert event.exception_type == "ValueError"
    assert lookup.__name__ == "lookup"


def test_nothing_is_published_when_nothing_is_raised(bus: Bus) -> None:
    @classified(bus=bus)
    def fine(x: int) -> int:
        return x * 2

    with capture_events(bus, to=ErrorClassified) as events:
        assert fine(21) == 42
    assert events == []


def test_the_bare_decorator_uses_the_default_bus_and_source_tool() -> None:
    @classified
    def slow() -> None:
        raise TimeoutError

    with capture_events(to=ErrorClassified) as events, pytest.raises(TimeoutError):
        slow()
    assert [(e.source, e.error_kind, e.retryable) for e in events.of(ErrorClassified)] == [
        ("tool", "timeout", True)
    ]


def test_a_coroutine_function(bus: Bus, api_error: ApiError) -> None:
    raised = api_error(429, "rate_limit_error", headers={"retry-after": "2"})

    @classified(source="llm", bus=bus)
    async def ask() -> str:
        await asyncio.sleep(0)
        raise raised

    assert inspect.iscoroutinefunction(ask)
    with capture_events(bus, to=ErrorClassified) as events, pytest.raises(type(raised)) as caught:
        asyncio.run(ask())
    assert caught.value is raised
    [event] = events
    assert isinstance(event, ErrorClassified)
    assert (event.source, event.error_kind, event.status_code, event.retry_after_s) == (
        "llm",
        "rate_limited",
        429,
        2.0,
    )
    assert event.exception_type == "anthropic.RateLimitError"


def test_a_with_block(bus: Bus) -> None:
    raised = ConnectionResetError("reset")
    with (
        capture_events(bus, to=ErrorClassified) as events,
        pytest.raises(ConnectionResetError) as caught,
        classified(source="other", bus=bus),
    ):
        raise raised
    assert caught.value is raised
    assert [(e.source, e.error_kind) for e in events.of(ErrorClassified)] == [
        ("other", "connection")
    ]


def test_an_async_with_block(bus: Bus) -> None:
    raised = KeyError("k")

    async def main() -> None:
        async with classified(source="other", bus=bus):
            raise raised

    with capture_events(bus, to=ErrorClassified) as events, pytest.raises(KeyError) as caught:
        asyncio.run(main())
    assert caught.value is raised
    assert [(e.source, e.error_kind) for e in events.of(ErrorClassified)] == [("other", "unknown")]


def test_a_cancelled_task_is_reported_and_still_cancelled(bus: Bus) -> None:
    @classified(source="llm", bus=bus)
    async def forever() -> None:
        await asyncio.sleep(3600)

    async def main() -> None:
        task = asyncio.create_task(forever())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with capture_events(bus, to=ErrorClassified) as events:
        asyncio.run(main())
    assert [e.error_kind for e in events.of(ErrorClassified)] == ["cancelled"]


def test_keyboard_interrupt_passes_through(bus: Bus) -> None:
    with (
        capture_events(bus, to=ErrorClassified) as events,
        pytest.raises(KeyboardInterrupt),
        classified(bus=bus),
    ):
        raise KeyboardInterrupt
    assert [e.error_kind for e in events.of(ErrorClassified)] == ["cancelled"]


def test_a_generator_being_closed_is_not_an_error(bus: Bus) -> None:
    def numbers() -> Generator[int, None, None]:
        with classified(bus=bus):
            yield 1
            yield 2

    with capture_events(bus, to=ErrorClassified) as events:
        gen = numbers()
        next(gen)
        gen.close()
    assert events == []


def test_a_failing_bus_changes_nothing_the_caller_sees() -> None:
    strict = StrictBus()

    def handler(event: object) -> None:
        raise RuntimeError("subscriber bug")

    strict.subscribe(handler)
    raised = ValueError("original")

    @classified(bus=strict)
    def tool() -> None:
        raise raised

    with pytest.raises(ValueError, match="original") as caught:
        tool()
    assert caught.value is raised
    assert caught.value.__context__ is None, "the bus failure did not attach itself"


def test_a_custom_classifier_and_report(bus: Bus) -> None:
    classifier = Classifier()
    classifier.add_rule(ValueError, "invalid_request")
    guard = classified(source="tool", bus=bus, classifier=classifier)
    assert isinstance(guard, Classified)
    with capture_events(bus, to=ErrorClassified) as events:
        result = guard.report(ValueError())
    assert result.kind is ErrorKind.INVALID_REQUEST
    assert [e.error_kind for e in events.of(ErrorClassified)] == ["invalid_request"]


def test_one_guard_serves_many_calls(bus: Bus) -> None:
    guard = classified(source="other", bus=bus)
    with capture_events(bus, to=ErrorClassified) as events:
        for _ in range(3):
            with pytest.raises(TimeoutError), guard:
                raise TimeoutError
    assert len(events) == 3


@pytest.mark.parametrize("source", ["LLM", "agent", ""])
def test_an_unknown_source_fails_at_once(source: str) -> None:
    with pytest.raises(ValueError, match="source"):
        classified(source=source)  # type: ignore[call-overload]  # misuse under test


def test_other_misuse_fails_at_once() -> None:
    with pytest.raises(TypeError, match="bus"):
        classified(bus="default")  # type: ignore[call-overload]  # misuse under test
    with pytest.raises(TypeError, match="classifier"):
        classified(classifier=object())  # type: ignore[call-overload]  # misuse under test
    with pytest.raises(TypeError, match="decorates a function"):
        classified()(42)  # type: ignore[arg-type]  # misuse under test
