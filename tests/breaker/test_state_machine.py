"""The breaker against a small reference model, over random calls and clock moves."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from agentguard import Bus
from agentguard.events import BreakerRejected, BreakerStateChanged, Event
from agentguard.testing import FakeClock
from agentguard_breaker import CircuitBreaker, CircuitOpenError

FAIL_MAX = 3
RESET_S = 10.0


class ProviderDownError(Exception):
    status_code = 503


class BadRequestError(Exception):
    status_code = 400


@dataclass
class Model:
    """What a breaker should do, written as plainly as possible."""

    now: float
    state: str = "closed"
    failures: int = 0
    opened_at: float = 0.0

    def call(self, outcome: str) -> tuple[bool, list[tuple[str, str, int]]]:
        """Whether the call runs, and the transitions it makes."""
        changes: list[tuple[str, str, int]] = []
        if self.state == "open":
            if self.now < self.opened_at + RESET_S:
                return False, changes
            self.state = "half_open"
            changes.append(("open", "half_open", self.failures))
        probe = self.state == "half_open"
        if outcome == "ok":
            if probe:
                self.state, self.failures = "closed", 0
                changes.append(("half_open", "closed", 0))
            else:
                self.failures = 0
        elif outcome == "fault":
            self.failures += 1
            if probe or self.failures >= FAIL_MAX:
                changes.append((self.state, "open", self.failures))
                self.state, self.opened_at = "open", self.now
        return True, changes


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.bus = Bus()
        self.events: list[Event] = []
        self.bus.subscribe(self.events.append)
        self.breaker = CircuitBreaker(
            "model",
            fail_max=FAIL_MAX,
            reset_timeout_s=RESET_S,
            bus=self.bus,
            clock=self.clock.monotonic,
        )
        self.model = Model(now=self.clock.monotonic())
        self.expected: list[tuple[str, str, int]] = []
        self.rejections = 0

    def _call(self, outcome: str) -> None:
        runs, changes = self.model.call(outcome)
        self.expected += changes
        ran = []

        @self.breaker
        def call() -> None:
            ran.append(1)
            if outcome == "fault":
                raise ProviderDownError
            if outcome == "request_error":
                raise BadRequestError

        try:
            call()
        except CircuitOpenError:
            self.rejections += 1
        except (ProviderDownError, BadRequestError):
            pass
        assert bool(ran) is runs

    @rule()
    def call_ok(self) -> None:
        self._call("ok")

    @rule()
    def call_provider_fault(self) -> None:
        self._call("fault")

    @rule()
    def call_request_error(self) -> None:
        self._call("request_error")

    @rule(seconds=st.sampled_from([0.0, 0.5, 3.0, 9.999, 10.0]) | st.floats(0, 30))
    def advance_time(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.model.now = self.clock.monotonic()

    @invariant()
    def matches_the_model(self) -> None:
        assert self.breaker.state == self.model.state
        assert self.breaker.failure_count == self.model.failures
        changes = [
            (e.old_state, e.new_state, e.failure_count)
            for e in self.events
            if isinstance(e, BreakerStateChanged)
        ]
        assert changes == self.expected
        assert sum(isinstance(e, BreakerRejected) for e in self.events) == self.rejections


TestBreakerMachine = BreakerMachine.TestCase
TestBreakerMachine.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)


def test_the_model_itself() -> None:
    model = Model(now=0.0)
    for _ in range(FAIL_MAX):
        model.call("fault")
    assert model.state == "open"
    assert model.call("ok") == (False, [])
    model.now = RESET_S
    assert model.call("ok") == (True, [("open", "half_open", 3), ("half_open", "closed", 0)])
