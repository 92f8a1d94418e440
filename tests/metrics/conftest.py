"""Fixtures of the metrics tests: a fake clock and every store the contract suite runs on.

A new store joins the contract suite by adding its name to ``STORES`` and a branch to
``store_factory`` (the Redis store: one built on the ``redis_server`` fixture).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agentguard.testing import FakeClock
from agentguard_metrics import MemoryStore, Store

STORES = ["memory"]

StoreFactory = Callable[..., Store]
"""Makes a fresh, empty store; keyword arguments are the store's options (``max_label_values``)."""


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when told to (2026-01-01T00:00:00Z to start)."""
    return FakeClock()


@pytest.fixture(params=STORES)
def store_factory(request: pytest.FixtureRequest, clock: FakeClock) -> StoreFactory:
    """Makes fresh, empty stores of one kind, on :func:`clock`, liveness 30 s."""
    if request.param == "memory":
        return lambda **options: MemoryStore(clock=clock.time, liveness_s=30.0, **options)
    raise AssertionError(f"no store called {request.param!r}")  # pragma: no cover


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    """A fresh, empty store."""
    return store_factory()
