"""Fixtures of the Claude Agent SDK and Managed Agents tests: the fake API, a bus, the CLI's env."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentguard import Bus
from agentguard_fake import FakeAnthropicServer
from support.list_price import list_price


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAnthropicServer]:
    """One fake Anthropic API server per test module; sessions' list costs at our prices."""
    with FakeAnthropicServer(seed=11, list_price=list_price) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeAnthropicServer) -> FakeAnthropicServer:
    """The module's server, reset."""
    server.reset()
    return server


@pytest.fixture
def bus() -> Bus:
    """A bus of the test's own."""
    return Bus()


@pytest.fixture
def cli_env(fake: FakeAnthropicServer, tmp_path: Path) -> dict[str, str]:
    """What the Claude Code CLI bundled in claude-agent-sdk needs to run offline on the fake.

    A home and config directory of its own, the fake as its API, and every documented
    switch that keeps it from reaching anything else (telemetry, updates, title requests).
    """
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    return {
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": fake.url,
        "ANTHROPIC_API_KEY": "test",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
