"""Fixtures of the service tests: a fake clock, a live service over the data set."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from agentguard.testing import FakeClock
from agentguard_service import MetricsService, create_app
from service import dataset


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when told to (2026-01-01T00:00:00Z to start)."""
    return FakeClock()


@pytest.fixture
def dataset_client(clock: FakeClock) -> Iterator[httpx2.Client]:
    """An httpx2 client on a live service (uvicorn) over ``service.dataset``, on its clock."""
    app = create_app(dataset.build(clock), rate_limit_per_s=None, clock=clock.time)
    with MetricsService(app) as service, httpx2.Client(base_url=service.url, timeout=30.0) as http:
        yield http
