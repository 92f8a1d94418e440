"""Fixtures of the breaker's tests: a fake clock and a bus whose events are recorded."""

from __future__ import annotations

import pytest

from agentguard import Bus
from agentguard.events import Event
from agentguard.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test says so."""
    return FakeClock()


@pytest.fixture
def bus() -> Bus:
    """A bus of the test's own."""
    return Bus()


@pytest.fixture
def events(bus: Bus) -> list[Event]:
    """Every event published on the test's bus, in order."""
    seen: list[Event] = []
    bus.subscribe(seen.append)
    return seen
