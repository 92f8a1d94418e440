"""Fixtures every test directory shares: free ports, a killable redis-server, binaries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

from support import artifacts
from support.ports import free_port
from support.redis_server import RedisServer
from support.system import require_binary

if TYPE_CHECKING:  # redis-py is not in every package's test environment
    from support.redis_deployments import ClusterNodes

# No per-example deadline: timing is for bench/, and a busy CI machine must not fail a
# property test that is merely slow there.
settings.register_profile("agentguard", deadline=None, print_blob=True)
settings.load_profile("agentguard")


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    return free_port()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server on a free port; the test may kill and restart it."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def binary() -> Callable[[str, str], str]:
    """``binary(name, debian_package)``: the path of a system binary, or skip (fail in CI)."""
    return require_binary


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List the artifacts (screenshots) the run kept, so a CI log points at them."""
    kept = [path for path in artifacts.KEPT if path.exists()]
    if kept:
        terminalreporter.section("artifacts kept")
        for path in kept:
            terminalreporter.write_line(str(path))


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterNodes]:
    """A real Redis Cluster of 3 masters, started once per session; tests use own prefixes."""
    from support.redis_deployments import ClusterNodes

    nodes = ClusterNodes(tmp_path_factory.mktemp("redis-cluster"))
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()
