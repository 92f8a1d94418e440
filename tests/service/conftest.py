"""Fixtures of the service tests: a fake clock."""

from __future__ import annotations

import pytest

from agentguard.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when told to (2026-01-01T00:00:00Z to start)."""
    return FakeClock()
