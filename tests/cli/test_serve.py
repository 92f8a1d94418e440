"""``agentguard serve`` in a subprocess over a real redis-server, with workers in this process.

The workers are ``RedisSubscriber`` s publishing known events; the service must answer for
all of them, keep going while Redis is away (saying so), evaluate alert rules centrally and
deliver their webhooks to a real receiver, and refuse bad options in one line.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest
import redis

from agentguard import Bus, run_context
from agentguard.events import LLMCallFinished, LoopDetected, ToolCallFinished
from agentguard_receiver import Receiver, create_app
from agentguard_redis import RedisSubscriber
from support.ports import free_port
from support.redis_server import RedisServer
from support.waiting import wait_until

SERVE = [sys.executable, "-m", "agentguard_cli", "serve"]
SECRET = "whsec_" + base64.b64encode(b"the serve test's webhook secret!").decode()


class Service:
    """``agentguard serve`` running, its standard error read as it goes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [*SERVE, "--port", "0", *args],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "COLUMNS": "200", **(env or {})},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = self.wait_for(r"agentguard serve: (http://\S+) over Redis")
        found = re.search(r"(http://\S+) over", line)
        assert found is not None
        self.url = found.group(1)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout_s: float = 30.0) -> str:
        """The first line of standard error matching ``pattern``, waiting for it."""

        def found() -> str | None:
            line = next((line for line in list(self.lines) if re.search(pattern, line)), None)
            assert line is not None or self.process.poll() is None, "\n".join(self.lines)
            return line

        return wait_until(found, timeout_s, lambda: f"a line like {pattern!r} in {self.lines}")

    def get(self, path: str, **headers: str) -> httpx2.Response:
        return httpx2.get(self.url + path, headers=headers, timeout=10)

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(30)
        self._reader.join(10)
        assert self.process.stderr is not None
        self.process.stderr.close()
        return status


@pytest.fixture
def workers(redis_server: RedisServer) -> Iterator[list[RedisSubscriber]]:
    """Two worker processes' subscribers (in this process, each with its own id)."""
    made = [
        RedisSubscriber.from_url(redis_server.url, process_id=f"worker-{i}", interval_s=None)
        for i in range(2)
    ]
    yield made
    for subscriber in made:
        subscriber.close(1.0)
        subscriber.redis_store.client.close()


def publish(subscriber: RedisSubscriber, calls: int, agent: str = "support") -> None:
    bus = Bus()
    subscriber.attach(bus)
    with run_context(agent):
        for i in range(calls):
            bus.publish(LLMCallFinished(model="claude-sonnet-4-6", duration_s=0.5 + i / 100))
            bus.publish(ToolCallFinished(tool="search", duration_s=0.05))
    assert subscriber.flush(5.0)


def poll(read: Callable[[], object], want: object, timeout_s: float = 30.0) -> None:
    """Wait until ``read()`` gives ``want``."""
    got: list[object] = [None]  # the latest read, for the message

    def gives_want() -> bool:
        got[0] = read()
        return got[0] == want

    wait_until(gives_want, timeout_s, lambda: f"still {got[0]!r}, wanted {want!r}", interval_s=0.1)


def test_it_serves_every_worker(redis_server: RedisServer, workers: list[RedisSubscriber]) -> None:
    publish(workers[0], 30)
    publish(workers[1], 12, agent="billing")
    service = Service("--redis", redis_server.url)
    try:
        snapshot = service.get("/api/v1/snapshot").json()
        assert snapshot["total_executions"] == 2 * (30 + 12)
        assert snapshot["endpoints"]["llm:claude-sonnet-4-6"]["requests_total"] == 42
        metrics = service.get("/metrics").text
        assert 'agentguard_llm_calls_total{model="claude-sonnet-4-6",status="ok"} 42.0' in metrics
        narrowed = service.get("/api/v1/metrics?timeframe=1h&metrics=performance&agent=billing")
        assert narrowed.json()["summary"]["totalExecutions"] == 24
        assert service.get("/").status_code == 200
    finally:
        assert service.stop() == 0
    assert service.lines[-1] == "agentguard serve: stopping"


def test_it_starts_without_redis_says_so_and_recovers(redis_server: RedisServer) -> None:
    redis_server.kill()
    password_url = f"redis://:hunter2secret@127.0.0.1:{redis_server.port}/0"
    service = Service("--redis", password_url, env={"AGENTGUARD_TOKEN": "tok"})
    try:
        line = service.wait_for("cannot reach Redis")
        assert f"redis://:***@127.0.0.1:{redis_server.port}/0" in line
        assert service.get("/healthz").status_code == 200
        down = service.get("/api/v1/snapshot", authorization="Bearer tok")
        assert down.status_code == 503
        assert down.json()["error"] == "STORE_UNAVAILABLE"
    finally:
        assert service.stop() == 0
    assert not any("hunter2secret" in line for line in service.lines)


def test_it_reconnects_when_redis_comes_back(
    redis_server: RedisServer, workers: list[RedisSubscriber]
) -> None:
    redis_server.kill()
    service = Service("--redis", redis_server.url)
    try:
        service.wait_for("cannot reach Redis")
        redis_server.start()
        service.wait_for("connected to Redis", timeout_s=60)
        publish(workers[0], 5)
        poll(lambda: service.get("/api/v1/snapshot").json().get("total_executions"), 10)
    finally:
        assert service.stop() == 0


def test_rules_are_evaluated_centrally_and_their_webhook_delivered(
    redis_server: RedisServer, workers: list[RedisSubscriber], tmp_path: Path
) -> None:
    with Receiver(create_app(secrets=[SECRET]), port=0) as receiver:
        rules = tmp_path / "rules.toml"
        rules.write_text(
            f"""
            [evaluation]
            interval = "0.2s"

            [[webhook]]
            url = "{receiver.url}/webhooks/alerts"
            secrets = ["{SECRET}"]
            allow_http = true
            allow_private = true

            [[builtin]]
            rule = "loop_detected"
            """,
            encoding="utf-8",
        )
        service = Service("--redis", redis_server.url, "--rules", str(rules))
        try:
            service.wait_for("alert rules: 1 from")
            bus = Bus()
            workers[1].attach(bus)
            with run_context("support"):
                bus.publish(LoopDetected(tool="lookup", pattern="repeat", repeats=4, action="stop"))
            assert workers[1].flush(5.0)

            def firing() -> list[str]:
                alerts = httpx2.get(f"{receiver.url}/api/v1/alerts", timeout=5).json()["alerts"]
                return [a["labels"]["alertname"] for a in alerts if a["status"] == "firing"]

            poll(firing, ["LoopDetected"])

            def counted() -> bool:
                return 'agentguard_alerts_total{rule="LoopDetected",state="firing"}' in (
                    service.get("/metrics").text
                )

            poll(counted, True)  # the service's own aggregator wrote the state change to Redis
        finally:
            assert service.stop() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "serve needs --redis URL"),
        (["--redis", "http://x"], "redis://"),
        (["--redis", "redis://127.0.0.1:1/0", "--port", "70000"], "65535"),
        (["--redis", "redis://127.0.0.1:1/0", "--rules", "/nope.toml"], "cannot read the rules"),
        (["--redis", "redis://127.0.0.1:1/0", "--budget-usd-per-month", "-3"], "positive"),
        (["--redis", "redis://127.0.0.1:1/0", "--port", "\uff19\uff14\uff16\uff14"], "0-9"),
        (["--redis", "redis://127.0.0.1:1/0", "--max-streams-per-client", "0"], "1 to 10000"),
        (["--redis", "redis://127.0.0.1:1/0", "--body-timeout", "inf"], "seconds in digits"),
    ],
)
def test_bad_options_fail_in_one_line(args: list[str], message: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTGUARD_")}
    done = subprocess.run(
        [*SERVE, *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_busy_port_fails_in_one_line(redis_server: RedisServer) -> None:
    port = free_port()
    with Receiver(create_app(secrets=[SECRET]), port=port):
        done = subprocess.run(
            [*SERVE, "--redis", redis_server.url, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert f"port {port} is already in use" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("user", "password", "code"),
    [
        ("", "not-the-password-7f3", "WRONGPASS"),
        ("", None, "NOAUTH"),
        ("reader", "readerpass-9c1", "NOPERM"),  # may log in and PING, not run scripts
    ],
)
def test_a_refused_login_fails_in_one_line_and_is_not_retried(
    redis_server: RedisServer, user: str, password: str | None, code: str
) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    admin.acl_setuser(
        "reader", enabled=True, passwords=["+readerpass-9c1"], keys=["*"], commands=["+ping"]
    )
    admin.config_set("requirepass", "s3cret-admin-pass")
    admin.close()
    login = "" if password is None else f"{user}:{password}@"
    url = f"redis://{login}127.0.0.1:{redis_server.port}/0"
    done = subprocess.run(
        [*SERVE, "--redis", url, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,  # an outage would be retried until stopped: this one ends by itself
        check=False,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("agentguard serve: ") and f"({code}: " in line
    assert f"127.0.0.1:{redis_server.port}" in line
    assert "cannot reach" not in line
    if password is not None:
        assert password not in line


def test_a_password_changed_while_serving_stops_the_service_once(
    redis_server: RedisServer,
) -> None:
    service = Service("--redis", redis_server.url)
    admin = redis.Redis.from_url(redis_server.url)
    try:
        service.wait_for("dashboard")
        admin.config_set("requirepass", "rotated-pass-41")
        admin.client_kill_filter(_type="normal", skipme=True)
        assert service.process.wait(60) == 2  # the watch checks every few seconds
    finally:
        admin.close()
        status = service.stop()
    assert status == 2
    refused = [line for line in service.lines if "(NOAUTH: " in line]
    assert len(refused) == 1 and "not retrying" in refused[0]
    assert not any("cannot reach Redis" in line for line in service.lines)
