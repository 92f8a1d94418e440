from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2
import pybreaker
import pytest

from agentguard import AgentGuardError, Bus
from agentguard.events import BreakerRejected, BreakerStateChanged, Event
from agentguard.testing import FakeClock, StrictBus
from agentguard_breaker import CircuitBreaker, CircuitOpenError, circuit
from agentguard_breaker._faults import builtin_is_provider_fault


class StatusError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


def make(clock: FakeClock, bus: Bus, **options: Any) -> CircuitBreaker:
    options.setdefault("fail_max", 2)
    options.setdefault("reset_timeout_s", 10.0)
    return CircuitBreaker("anthropic", bus=bus, clock=clock.monotonic, **options)


def fail_with(breaker: CircuitBreaker, exc: Exception) -> None:
    @breaker
    def call() -> None:
        raise exc

    with pytest.raises(type(exc)):
        call()


def transitions(events: list[Event]) -> list[tuple[str, str, int]]:
    return [
        (e.old_state, e.new_state, e.failure_count)
        for e in events
        if isinstance(e, BreakerStateChanged)
    ]


def state_of(breaker: CircuitBreaker) -> str:
    """The state, read afresh (mypy would keep an earlier comparison's narrowing)."""
    return breaker.state


def bad_request() -> anthropic.BadRequestError:
    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
    response = httpx2.Response(400, request=request)
    return anthropic.BadRequestError("prompt is too long", response=response, body=None)


def test_decorated_function_keeps_name_and_result(clock: FakeClock, bus: Bus) -> None:
    breaker = make(clock, bus)

    @breaker
    def ask(prompt: str) -> str:
        """Ask."""
        return prompt.upper()

    assert ask("hi") == "HI"
    assert ask.__name__ == "ask"
    assert ask.__doc__ == "Ask."


def test_provider_faults_open_it_then_calls_fail_fast(
    clock: FakeClock, bus: Bus, events: list[Event]
) -> None:
    breaker = make(clock, bus)
    calls: list[int] = []

    @breaker
    def ask() -> None:
        calls.append(1)
        raise TimeoutError

    for _ in range(2):
        with pytest.raises(TimeoutError):
            ask()
    assert breaker.state == "open"
    clock.advance(4)
    with pytest.raises(CircuitOpenError) as info:
        ask()
    assert len(calls) == 2
    assert info.value.breaker == "anthropic"
    assert info.value.retry_after_s == pytest.approx(6.0)
    assert isinstance(info.value, AgentGuardError)
    assert isinstance(info.value, pybreaker.CircuitBreakerError)
    assert transitions(events) == [("closed", "open", 2)]
    assert [e.breaker for e in events if isinstance(e, BreakerRejected)] == ["anthropic"]


def test_probe_success_closes_and_failure_reopens(
    clock: FakeClock, bus: Bus, events: list[Event]
) -> None:
    breaker = make(clock, bus)
    for _ in range(2):
        fail_with(breaker, StatusError(529))
    clock.advance(10)
    fail_with(breaker, StatusError(503))
    assert breaker.state == "open"
    clock.advance(10)
    with breaker:
        pass
    assert state_of(breaker) == "closed"
    assert breaker.failure_count == 0
    assert transitions(events) == [
        ("closed", "open", 2),
        ("open", "half_open", 2),
        ("half_open", "open", 3),
        ("open", "half_open", 3),
        ("half_open", "closed", 0),
    ]


@pytest.mark.parametrize(
    "exc",
    [StatusError(400), StatusError(404), StatusError(413), bad_request(), ValueError("x")],
    ids=["400", "404", "413", "anthropic-BadRequestError", "ValueError"],
)
def test_request_errors_never_trip_it_and_pass_through_unchanged(
    clock: FakeClock, bus: Bus, events: list[Event], exc: Exception
) -> None:
    breaker = make(clock, bus, fail_max=1)
    fail_with(breaker, TimeoutError())
    clock.advance(10)
    fail_with(breaker, StatusError(500))  # the probe fails: open again, 2 failures
    clock.advance(10)

    @breaker
    def call() -> None:
        raise exc

    for _ in range(5):
        with pytest.raises(type(exc)) as info:
            call()
        assert info.value is exc
    assert breaker.state == "half_open"  # a request error is no verdict on the provider
    assert breaker.failure_count == 2

    closed = make(clock, Bus(), fail_max=1)
    for _ in range(5):
        fail_with(closed, exc)
    assert closed.state == "closed"
    assert closed.failure_count == 0


def test_request_error_does_not_reset_the_count(clock: FakeClock, bus: Bus) -> None:
    breaker = make(clock, bus, fail_max=2)
    fail_with(breaker, ConnectionResetError())
    fail_with(breaker, StatusError(422))
    assert breaker.failure_count == 1
    fail_with(breaker, ConnectionResetError())
    assert breaker.state == "open"


def test_success_resets_the_count(clock: FakeClock, bus: Bus) -> None:
    breaker = make(clock, bus, fail_max=2)
    fail_with(breaker, TimeoutError())
    breaker(lambda: None)()
    fail_with(breaker, TimeoutError())
    assert breaker.state == "closed"
    assert breaker.failure_count == 1


@pytest.mark.parametrize(
    ("exc", "fault"),
    [
        (StatusError(429), True),
        (StatusError(500), True),
        (StatusError(529), True),
        (StatusError(400), False),
        (StatusError(401), False),
        (StatusError(413), False),
        (TimeoutError(), True),
        (asyncio.TimeoutError(), True),
        (ConnectionRefusedError(), True),
        (anthropic.APITimeoutError(request=httpx2.Request("POST", "https://a.test")), True),
        (anthropic.APIConnectionError(request=httpx2.Request("POST", "https://a.test")), True),
        (httpx2.ConnectTimeout("slow"), True),
        (httpx2.ConnectError("refused"), True),
        (bad_request(), False),
        (KeyError("k"), False),
        (RuntimeError("bug"), False),
    ],
)
def test_builtin_predicate(exc: Exception, fault: bool) -> None:
    assert builtin_is_provider_fault(exc) is fault


def test_is_failure_overrides_the_default(clock: FakeClock, bus: Bus) -> None:
    breaker = make(clock, bus, fail_max=1, is_failure=lambda e: isinstance(e, KeyError))
    fail_with(breaker, TimeoutError())
    assert breaker.state == "closed"
    fail_with(breaker, KeyError("k"))
    assert state_of(breaker) == "open"


def test_a_raising_is_failure_counts_nothing_and_keeps_the_error(
    clock: FakeClock, bus: Bus
) -> None:
    def broken(exc: BaseException) -> bool:
        raise RuntimeError("predicate bug")

    breaker = make(clock, bus, fail_max=1, is_failure=broken)
    fail_with(breaker, TimeoutError())
    assert breaker.state == "closed"


def test_async_forms(clock: FakeClock, bus: Bus, events: list[Event]) -> None:
    breaker = make(clock, bus, fail_max=1)

    @breaker
    async def ask(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    @breaker
    async def down() -> None:
        raise StatusError(503)

    async def main() -> None:
        assert await ask(21) == 42
        with pytest.raises(StatusError):
            await down()
        with pytest.raises(CircuitOpenError):
            await ask(1)
        clock.advance(10)
        async with breaker:
            await asyncio.sleep(0)
        assert breaker.state == "closed"

    asyncio.run(main())
    assert transitions(events) == [
        ("closed", "open", 1),
        ("open", "half_open", 1),
        ("half_open", "closed", 0),
    ]


def test_with_block_counts_faults_and_rejects(clock: FakeClock, bus: Bus) -> None:
    breaker = make(clock, bus, fail_max=1)
    with pytest.raises(TimeoutError), breaker:
        raise TimeoutError
    ran = []
    with pytest.raises(CircuitOpenError), breaker:
        ran.append(1)
    assert ran == []


def test_cancelled_probe_frees_the_place(clock: FakeClock, bus: Bus) -> None:
    breaker = make(clock, bus, fail_max=1)
    fail_with(breaker, TimeoutError())
    clock.advance(10)
    with pytest.raises(KeyboardInterrupt), breaker:
        raise KeyboardInterrupt
    assert breaker.state == "half_open"
    with breaker:
        pass
    assert state_of(breaker) == "closed"


def test_circuit_forms_share_one_breaker_per_name(clock: FakeClock, bus: Bus) -> None:
    name = f"test-circuit-{id(clock)}"
    first = circuit(name=name, fail_max=1, clock=clock.monotonic, bus=bus)

    @circuit(name=name)
    def ask() -> str:
        return "ok"

    @circuit
    def other() -> str:
        return "other"

    assert ask() == "ok"
    assert other() == "other"
    with pytest.raises(TimeoutError), circuit(name=name):
        raise TimeoutError
    assert first.state == "open"
    with pytest.raises(CircuitOpenError):
        ask()
    assert circuit(name=name, fail_max=1) is first
    with pytest.raises(ValueError, match="fail_max"):
        circuit(name=name, fail_max=3)
    with pytest.raises(TypeError, match="name"):
        circuit()  # type: ignore[call-overload]  # the misuse under test


class RaisingBus(Bus):
    def publish(self, event: Event) -> None:
        raise RuntimeError("bus down")


@pytest.mark.parametrize("kind", ["raising-subscriber", "strict-bus", "raising-publish"])
def test_a_failing_bus_or_listener_changes_nothing(
    clock: FakeClock, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    bus: Bus
    if kind == "raising-publish":
        bus = RaisingBus()
    else:
        bus = StrictBus() if kind == "strict-bus" else Bus()

        def listener(event: Event) -> None:
            raise RuntimeError("listener bug")

        bus.subscribe(listener)
    breaker = make(clock, bus, fail_max=1)
    with caplog.at_level(logging.ERROR, logger="agentguard"):
        fail_with(breaker, TimeoutError())
        for _ in range(3):
            with pytest.raises(CircuitOpenError):
                breaker(lambda: None)()
        clock.advance(10)
        assert breaker(lambda: 7)() == 7
    assert breaker.state == "closed"
    if kind != "raising-subscriber":
        assert breaker.publish_errors == 6
        assert len([r for r in caplog.records if "bus" in r.getMessage()]) == 1


@pytest.mark.parametrize(
    ("options", "error", "param"),
    [
        ({"name": ""}, ValueError, "name"),
        ({"name": 3}, TypeError, "name"),
        ({"fail_max": 0}, ValueError, "fail_max"),
        ({"fail_max": -1}, ValueError, "fail_max"),
        ({"fail_max": 2.5}, TypeError, "fail_max"),
        ({"fail_max": True}, TypeError, "fail_max"),
        ({"reset_timeout_s": 0}, ValueError, "reset_timeout_s"),
        ({"reset_timeout_s": -1.0}, ValueError, "reset_timeout_s"),
        ({"reset_timeout_s": float("nan")}, ValueError, "reset_timeout_s"),
        ({"reset_timeout_s": "30"}, TypeError, "reset_timeout_s"),
        ({"clock": 1.0}, TypeError, "clock"),
        ({"is_failure": "yes"}, TypeError, "is_failure"),
        ({"bus": object()}, TypeError, "bus"),
        ({"redis": 42}, TypeError, "redis"),
        ({"redis_retry_s": -1}, ValueError, "redis_retry_s"),
    ],
)
def test_bad_configuration_names_the_parameter(
    options: dict[str, Any], error: type[Exception], param: str
) -> None:
    kwargs: dict[str, Any] = {"name": "anthropic", **options}
    with pytest.raises(error, match=param):
        CircuitBreaker(**kwargs)


def test_decorating_a_non_callable_says_what_to_do(clock: FakeClock, bus: Bus) -> None:
    breaker = make(clock, bus)
    bad: Callable[[], None] = "not a function"  # type: ignore[assignment]  # the misuse
    with pytest.raises(TypeError, match="to guard a block of code, use it in a `with` block"):
        breaker(bad)


def test_real_clock_default_works() -> None:
    breaker = CircuitBreaker("real-clock", fail_max=1, reset_timeout_s=60, bus=Bus())
    fail_with(breaker, TimeoutError())
    started = time.monotonic()
    with pytest.raises(CircuitOpenError) as info:
        breaker(lambda: None)()
    assert 59 < info.value.retry_after_s <= 60 + (time.monotonic() - started)
