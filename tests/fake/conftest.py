"""Fixtures of the fake Messages API's own tests: one server per module, reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentguard_fake import FakeAnthropicServer, ModelRequest


def haiku_list_price(model: str, request: ModelRequest) -> float | None:
    """Claude Haiku 4.5's list rates ($1 and $5 per million input and output tokens)."""
    if model != "claude-haiku-4-5":
        return None
    return (request.input_tokens * 1.0 + request.output_tokens * 5.0) / 1_000_000


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAnthropicServer]:
    """One fake Messages API server per test module."""
    with FakeAnthropicServer(seed=7, list_price=haiku_list_price) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeAnthropicServer) -> FakeAnthropicServer:
    """The module's server, reset: no queued steps, no recorded requests, a cold cache."""
    server.reset()
    return server
