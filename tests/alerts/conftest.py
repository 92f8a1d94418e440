"""Fixtures of the alerts tests: a fake clock, a store fed through a real aggregator, a bus.

Rules are evaluated over a real ``MemoryStore`` fed by a real ``Aggregator`` on a private bus,
as in the agent's process; only time is fake.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from agentguard import Bus
from agentguard.events import Event
from agentguard.testing import FakeClock
from agentguard_alerts import Notification
from agentguard_metrics import Aggregator, MemoryStore


class Feed:
    """Publishes events stamped with the fake clock's time into a store through an aggregator."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.bus = Bus(name="alerts-tests")
        self.store = MemoryStore(clock=clock.time)
        self.aggregator = Aggregator(self.store, clock=clock.time, process_id="tests")
        self.aggregator.attach(self.bus)

    def publish(self, *events: Event) -> None:
        """Publish each event, stamped now, then flush the aggregator into the store."""
        for event in events:
            self.bus.publish(replace(event, at_unix_s=self.clock.time()))
        assert self.aggregator.flush(2.0)

    def close(self) -> None:
        """Detach the aggregator."""
        self.aggregator.close()


class Recorder:
    """A notifier that keeps what it is given (the evaluator's side of the protocol)."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self.closed = False

    def notify(self, notification: Notification) -> None:
        self.notifications.append(notification)

    def flush(self, timeout_s: float) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def take(self) -> list[Notification]:
        """The notifications since the last ``take``."""
        taken, self.notifications = self.notifications, []
        return taken


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when told to (2026-01-01T00:00:00Z to start)."""
    return FakeClock()


@pytest.fixture
def feed(clock: FakeClock) -> Iterator[Feed]:
    """A bus, an aggregator on it and the memory store it flushes into, on :func:`clock`."""
    made = Feed(clock)
    yield made
    made.close()


@pytest.fixture
def recorder() -> Recorder:
    """A notifier that records notifications."""
    return Recorder()
