"""``agentguard serve`` and ``demo --redis`` on the URLs users have: a Cluster node, TLS, Sentinel.

A real 3-master Redis Cluster (any node's URL), a ``redis-server`` with a TLS port, and the
mistakes: each must end in one line on standard error, never with the password or a traceback.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentguard import Bus, run_context
from agentguard.events import LLMCallFinished
from agentguard_redis import RedisSubscriber
from cli.test_serve import SERVE, Service
from support.redis_deployments import ClusterNodes, make_tls_files, tls_port, tls_server
from support.redis_server import RedisServer
from support.system import IN_CI

DEMO = [sys.executable, "-m", "agentguard_cli", "demo", "--no-color"]
PASSWORD = "pw-0b7c-never-shown"


def test_serve_over_any_node_of_a_cluster(redis_cluster: ClusterNodes) -> None:
    prefix = f"s{uuid.uuid4().hex[:8]}"
    subscriber = RedisSubscriber.from_url(redis_cluster.urls[1], prefix=prefix, interval_s=None)
    bus = Bus()
    subscriber.attach(bus)
    with run_context("support"):
        for _ in range(7):
            bus.publish(LLMCallFinished(model="claude-sonnet-4-6", duration_s=0.2))
    assert subscriber.close(10.0)
    subscriber.redis_store.client.close()
    service = Service("--redis", redis_cluster.urls[2], "--prefix", prefix)
    try:
        snapshot = service.get("/api/v1/snapshot").json()
        assert snapshot["endpoints"]["llm:claude-sonnet-4-6"]["requests_total"] == 7
    finally:
        assert service.stop() == 0
    assert not any("cannot reach" in line for line in service.lines), service.lines


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server with a TLS port beside its plain one."""
    server = tls_server(tmp_path / "tls-redis", make_tls_files(tmp_path / "tls"))
    try:
        server.start()
    except RuntimeError:
        if IN_CI:
            raise
        pytest.skip("this redis-server was built without TLS")
    try:
        yield server
    finally:
        server.kill()


def one_line(done: subprocess.CompletedProcess[str], command: str) -> str:
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"agentguard {command}: ")
    assert "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr
    return line


def test_a_tls_mismatch_ends_serve_in_one_line(tls_redis: RedisServer) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{tls_port(tls_redis)}/0"
    done = subprocess.run(
        [*SERVE, "--redis", url, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    line = one_line(done, "serve")
    assert "speaks TLS: use rediss://" in line
    assert f"redis://:***@127.0.0.1:{tls_port(tls_redis)}/0" in line


def test_a_tls_mismatch_ends_the_demo_in_one_line(tls_redis: RedisServer) -> None:
    url = f"rediss://:{PASSWORD}@127.0.0.1:{tls_redis.port}/0"  # TLS to the plain port
    done = subprocess.run(
        [*DEMO, "--redis", url, "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "takes redis://, not rediss://" in one_line(done, "demo")


def test_an_unknown_sentinel_service_is_said_while_serve_waits(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    from support.redis_deployments import SentinelProcess

    sentinel = SentinelProcess(tmp_path / "sentinel", redis_server, "agents")
    sentinel.start()
    try:
        service = Service("--redis", f"redis+sentinel://127.0.0.1:{sentinel.port}/nobody/0")
        try:
            line = service.wait_for("cannot reach Redis at")
            assert "no Sentinel at 127.0.0.1:" in line
            assert "knows a primary for service 'nobody'" in line
        finally:
            assert service.stop() == 0
    finally:
        sentinel.stop()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://127.0.0.1:1/3", "only database 0"),
        (f"redis+sentinel://:{PASSWORD}@127.0.0.1:1", "say which primary"),
    ],
)
def test_a_url_that_contradicts_itself_fails_in_one_line(url: str, message: str) -> None:
    done = subprocess.run(
        [*SERVE, "--redis", url], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert PASSWORD not in done.stderr
