"""Breaker state shared by two processes through a real redis-server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from agentguard import Bus
from agentguard.events import BreakerStateChanged, Event
from agentguard.testing import FakeClock
from agentguard_breaker import CircuitBreaker, CircuitOpenError
from support.redis_server import RedisServer

WORKER = Path(__file__).with_name("redis_worker.py")


class Worker:
    """The other process."""

    def __init__(self, url: str, name: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), url, name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def send(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=10) == 0
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def worker(redis_server: RedisServer) -> Iterator[Worker]:
    other = Worker(redis_server.url, "shared")
    yield other
    other.close()


def here(url: str, bus: Bus) -> CircuitBreaker:
    return CircuitBreaker(
        "shared", fail_max=2, reset_timeout_s=60, bus=bus, redis=url, redis_retry_s=0.0
    )


def fail(breaker: CircuitBreaker) -> None:
    with pytest.raises(TimeoutError), breaker:
        raise TimeoutError


def test_opened_in_one_process_rejected_in_the_other(
    redis_server: RedisServer, worker: Worker
) -> None:
    bus, events = Bus(), list[Event]()
    bus.subscribe(events.append)
    breaker = here(redis_server.url, bus)
    assert worker.send("ok")["result"] == "passed"
    fail(breaker)
    assert worker.send("state")["failures"] == 0  # no call yet: it has not looked
    answer = worker.send("fault")  # the second fault, counted across processes, opens it
    assert answer["result"] == "failed"
    assert answer["state"] == "open"
    assert answer["kinds"] == ["breaker.state"]
    with pytest.raises(CircuitOpenError) as info:
        breaker(lambda: None)()
    assert 59 < info.value.retry_after_s <= 60
    assert breaker.state == "open"
    assert [e for e in events if isinstance(e, BreakerStateChanged)] == []  # the other published
    assert worker.send("ok")["result"] == "rejected"
    assert breaker.redis_fallbacks == 0
    with redis.Redis.from_url(redis_server.url) as client:
        stored = client.hgetall("agentguard:breaker:shared")
    assert stored[b"state"] == b"open"
    assert stored[b"failures"] == b"2"


def test_redis_killed_while_open(redis_server: RedisServer, worker: Worker) -> None:
    bus = Bus()
    breaker = here(redis_server.url, bus)
    fail(breaker)
    fail(breaker)
    assert worker.send("ok")["result"] == "rejected"  # it has seen the open state
    redis_server.kill()

    for _ in range(3):
        with pytest.raises(CircuitOpenError):
            breaker(lambda: None)()
        answer = worker.send("ok")
        assert answer["result"] == "rejected"
        assert answer["state"] == "open"
    assert breaker.redis_fallbacks >= 3
    assert answer["fallbacks"] >= 3

    redis_server.start()  # empty again, as after a crash
    with pytest.raises(CircuitOpenError):
        breaker(lambda: None)()  # answers again: seeded from this process's state
    fallbacks = breaker.redis_fallbacks
    assert worker.send("ok")["result"] == "rejected"
    with pytest.raises(CircuitOpenError):
        breaker(lambda: None)()
    assert breaker.redis_fallbacks == fallbacks
    with redis.Redis.from_url(redis_server.url) as client:
        stored = client.hget("agentguard:breaker:shared", "state")
    assert stored == b"open"


def test_redis_killed_while_closed_counts_locally(redis_server: RedisServer) -> None:
    bus, events = Bus(), list[Event]()
    bus.subscribe(events.append)
    breaker = here(redis_server.url, bus)
    fail(breaker)
    redis_server.kill()
    fail(breaker)  # counted on local state: the count it mirrored plus this one
    assert breaker.state == "open"
    assert breaker.redis_fallbacks >= 1
    assert [(e.old_state, e.new_state) for e in events if isinstance(e, BreakerStateChanged)] == [
        ("closed", "open")
    ]


def test_redis_unreachable_at_construction(
    unused_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        "nowhere",
        fail_max=1,
        reset_timeout_s=10,
        bus=Bus(),
        clock=clock.monotonic,
        wall_clock=clock.time,
        redis=f"redis://127.0.0.1:{unused_port}/0",
    )
    assert breaker(lambda: 1)() == 1
    fail(breaker)
    with pytest.raises(CircuitOpenError):
        breaker(lambda: None)()
    clock.advance(10)
    assert breaker(lambda: 2)() == 2
    assert breaker.state == "closed"
    assert breaker.redis_fallbacks >= 4
    errors = [r for r in caplog.records if "shared state unavailable" in r.getMessage()]
    assert len(errors) == 1  # once per episode


def test_redis_client_object_and_wall_clock(redis_server: RedisServer) -> None:
    clock = FakeClock()
    client = redis.Redis.from_url(redis_server.url, socket_timeout=0.5, decode_responses=True)
    first, second = (
        CircuitBreaker(
            "clients",
            fail_max=1,
            reset_timeout_s=10,
            bus=Bus(),
            clock=clock.monotonic,
            wall_clock=clock.time,
            redis=client,
        )
        for _ in range(2)
    )
    fail(first)
    with pytest.raises(CircuitOpenError):
        second(lambda: None)()
    clock.advance(10)
    with second, pytest.raises(CircuitOpenError):  # second's block is the probe
        first(lambda: None)()  # one probe across both
    assert first(lambda: 3)() == 3
    assert first.state == "closed"
    client.close()
