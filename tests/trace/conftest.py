"""Fixtures of the tracer's tests: the fake Messages API server and a fresh bus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentguard import Bus
from agentguard_fake import FakeAnthropicServer


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAnthropicServer]:
    """One fake Messages API server per test module."""
    with FakeAnthropicServer(seed=7) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeAnthropicServer) -> FakeAnthropicServer:
    """The module's server, reset: no queued steps, no recorded requests, a cold cache."""
    server.reset()
    return server


@pytest.fixture
def bus() -> Bus:
    """A bus of the test's own."""
    return Bus()
