"""The state of one breaker in this process: pybreaker's storage, short locks, one probe."""

from __future__ import annotations

import threading
from typing import Final, NamedTuple

import pybreaker

from agentguard.events import BreakerState

__all__ = ["NORMAL", "PROBE", "REJECT", "Admission", "LocalState", "Transition"]

NORMAL: Final = 0
"""Admitted as an ordinary call (the breaker is closed)."""
PROBE: Final = 1
"""Admitted as the one half-open probe."""
REJECT: Final = 2
"""Not admitted: fail fast."""

_FROM_PYBREAKER: Final[dict[str, BreakerState]] = {
    pybreaker.STATE_CLOSED: "closed",
    pybreaker.STATE_OPEN: "open",
    pybreaker.STATE_HALF_OPEN: "half_open",
}
_TO_PYBREAKER: Final[dict[BreakerState, str]] = {v: k for k, v in _FROM_PYBREAKER.items()}


class Transition(NamedTuple):
    """A change of state: what it left, what it entered, the failures counted then."""

    old: BreakerState
    new: BreakerState
    failure_count: int


class Admission(NamedTuple):
    """What the breaker decided about one call."""

    outcome: int
    """:data:`NORMAL`, :data:`PROBE` or :data:`REJECT`."""
    retry_after_s: float
    """For a rejection, seconds until a probe is allowed."""
    transition: Transition | None
    """The change of state the decision made, if any."""


class LocalState:
    """State, failure count and opened-at time of a breaker, kept in this process.

    State and failure count live in a ``pybreaker.CircuitMemoryStorage`` (with pybreaker's
    state names); the opened-at time is kept beside it on the injected monotonic clock,
    because pybreaker's ``opened_at`` is a wall-clock ``datetime``. Every read-modify-write
    happens under one short lock that is never held across a guarded call; ``probing`` says
    whether the half-open probe is in flight.
    """

    __slots__ = ("_lock", "fail_max", "opened_at_s", "probing", "reset_timeout_s", "storage")

    def __init__(self, fail_max: int, reset_timeout_s: float) -> None:
        self._lock = threading.Lock()
        self.storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self.fail_max = fail_max
        self.reset_timeout_s = reset_timeout_s
        self.opened_at_s = 0.0
        self.probing = False

    @property
    def state(self) -> BreakerState:
        """The state, in agentguard's spelling."""
        return _FROM_PYBREAKER[self.storage.state]

    @property
    def failures(self) -> int:
        """Consecutive provider failures counted."""
        return int(self.storage.counter)

    def admit(self, now_s: float) -> Admission:
        """Decide whether a call may go through at ``now_s``."""
        storage = self.storage
        with self._lock:
            state = storage.state
            if state == pybreaker.STATE_CLOSED:
                return Admission(NORMAL, 0.0, None)
            if state == pybreaker.STATE_OPEN:
                wait_s = self.opened_at_s + self.reset_timeout_s - now_s
                if wait_s > 0:
                    return Admission(REJECT, wait_s, None)
                storage.state = pybreaker.STATE_HALF_OPEN
                self.probing = True
                return Admission(PROBE, 0.0, Transition("open", "half_open", storage.counter))
            if self.probing:
                return Admission(REJECT, 0.0, None)
            self.probing = True
            return Admission(PROBE, 0.0, None)

    def succeeded(self, probe: bool) -> Transition | None:
        """Record a call that returned (or raised what is not a provider fault, for a probe)."""
        storage = self.storage
        with self._lock:
            if probe:
                self.probing = False
                if storage.state == pybreaker.STATE_HALF_OPEN:
                    storage.reset_counter()
                    storage.state = pybreaker.STATE_CLOSED
                    return Transition("half_open", "closed", 0)
            elif storage.state == pybreaker.STATE_CLOSED:
                storage.reset_counter()
            return None

    def failed(self, probe: bool, now_s: float) -> Transition | None:
        """Record a provider fault at ``now_s``."""
        storage = self.storage
        with self._lock:
            if probe:
                self.probing = False
                if storage.state != pybreaker.STATE_HALF_OPEN:
                    return None
                storage.increment_counter()
                storage.state = pybreaker.STATE_OPEN
                self.opened_at_s = now_s
                return Transition("half_open", "open", storage.counter)
            if storage.state != pybreaker.STATE_CLOSED:
                return None
            storage.increment_counter()
            if storage.counter < self.fail_max:
                return None
            storage.state = pybreaker.STATE_OPEN
            self.opened_at_s = now_s
            return Transition("closed", "open", storage.counter)

    def released(self, probe: bool) -> None:
        """Record a call that ended without a verdict: a probe frees its place, nothing else."""
        if probe:
            with self._lock:
                self.probing = False

    def mirror(self, state: BreakerState, failures: int, opened_at_s: float, probe: bool) -> None:
        """Take over the state a shared store answered with (no event: its writer published)."""
        storage = self.storage
        with self._lock:
            storage.state = _TO_PYBREAKER[state]
            storage.reset_counter()
            for _ in range(failures):  # the storage has no setter; counts stay small
                storage.increment_counter()
            self.opened_at_s = opened_at_s
            self.probing = probe
