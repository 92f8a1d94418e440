"""Four worker processes into one redis-server: exact totals, through crashes and lost replies.

Each worker (``support/metrics_worker.py``) publishes known events through a
``RedisSubscriber``; the test computes what they published and reads the totals back through
a ``RedisStore``: counts exactly, p95 and p99 within 1 % of the exact values over the same
samples (DESIGN.md P7).
The chaos run (DESIGN.md R2) does the same while the redis-server, with its append-only file
on, is killed with SIGKILL and restarted twice, and while a proxy drops every reply for a while
(until replies were dropped and every worker went on publishing): no count lost, none counted twice.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentguard_redis import RedisStore
from support.metrics_worker import MODELS, expected
from support.redis_server import RedisServer
from support.tcp_proxy import TCPProxy
from support.waiting import wait_until

TESTS = Path(__file__).parents[1]
WORKERS = 4
DURATION = "agentguard_llm_call_duration_seconds"

pytestmark = pytest.mark.slow


class Workers:
    """The worker processes of one test, their output read as they go."""

    def __init__(self, url: str, prefix: str, events: int, pace_s: float) -> None:
        self.events = events
        self.progress = [0] * WORKERS
        self.processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "support.metrics_worker",
                    url,
                    prefix,
                    str(w),
                    str(events),
                    str(pace_s),
                ],
                stdout=subprocess.PIPE,
                text=True,
                cwd=TESTS,
            )
            for w in range(WORKERS)
        ]
        self.outputs: list[list[str]] = [[] for _ in range(WORKERS)]
        self.failed = [0] * WORKERS
        self.skipped = [0] * WORKERS
        self._readers = [
            threading.Thread(target=self._read, args=(w,), daemon=True) for w in range(WORKERS)
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, worker: int) -> None:
        stdout = self.processes[worker].stdout
        assert stdout is not None
        for line in stdout:
            self.outputs[worker].append(line.strip())
            if line.startswith("progress "):
                self.progress[worker] = int(line.split()[1])
            elif line.startswith("failed "):
                _, failed, _, skipped = line.split()
                self.failed[worker], self.skipped[worker] = int(failed), int(skipped)

    def wait_for_progress(self, fraction: float, timeout_s: float = 60.0) -> None:
        """Wait until every worker has published ``fraction`` of its events."""
        wait_until(
            lambda: min(self.progress) >= fraction * self.events,
            timeout_s,
            lambda: f"every worker at {fraction:.0%} of its events; they are at {self.progress}",
            interval_s=0.05,
        )

    def finish(self, timeout_s: float = 180.0) -> None:
        """Wait for every worker to end; each must have said ``done``."""
        for process in self.processes:
            assert process.wait(timeout_s) == 0
        for reader in self._readers:
            reader.join(10)
        for output in self.outputs:
            assert output[-1:] == ["done"], output[-5:]

    def kill(self) -> None:
        """End any worker still running, and close the pipes."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        for reader in self._readers:
            reader.join(10)
        for process in self.processes:
            if process.stdout is not None:
                process.stdout.close()


@pytest.fixture
def aof_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server whose append-only file keeps what it was told across a SIGKILL."""
    server = RedisServer(tmp_path / "aof", appendonly=True)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def check_totals(store: RedisStore, events: int) -> None:
    """The store holds exactly what the workers published."""
    wanted = [expected(w, events) for w in range(WORKERS)]
    calls = "agentguard_llm_calls_total"
    for i, model in enumerate(MODELS):
        want = sum(w["llm_calls"][model] for w in wanted)  # type: ignore[index]  # a dict by expected()
        assert store.counter(calls, {"model": model}) == want, (model, i)
    assert store.counter(calls) == WORKERS * events
    tokens = store.counter("agentguard_llm_tokens_total", {"token_type": "input"})
    assert tokens == sum(w["input_tokens"] for w in wanted)  # type: ignore[misc]  # ints by expected()
    assert store.counter("agentguard_tool_calls_total") == WORKERS * events
    errors = store.counter("agentguard_errors_total", {"source": "tool", "kind": "timeout"})
    assert errors == sum(w["tool_errors"] for w in wanted)  # type: ignore[misc]  # same
    assert store.counter("agentguard_runs_total", {"agent": "agent-0"}) == 2 * events
    assert store.gauge("agentguard_runs_in_progress") == 0.0
    merged = store.histogram(DURATION)
    union = sorted(d for w in wanted for d in w["durations"])  # type: ignore[attr-defined]  # a list by expected()
    assert merged.count == len(union)
    assert math.isclose(merged.sum, sum(union), rel_tol=1e-9)
    for q in (0.95, 0.99):
        exact = union[math.floor(q * (len(union) - 1))]
        got = store.quantile(DURATION, q)
        assert got is not None
        assert abs(got - exact) <= 0.01 * exact, (q, got, exact)


def test_four_workers_add_up_exactly(redis_server: RedisServer) -> None:
    events = 2_000
    workers = Workers(redis_server.url, "exact", events, pace_s=0.0)
    try:
        workers.finish()
    finally:
        workers.kill()
    assert workers.failed == [0] * WORKERS
    store = RedisStore(redis_server.url, prefix="exact")
    check_totals(store, events)
    store.client.close()


def test_crashes_and_lost_replies_lose_nothing_and_count_nothing_twice(
    aof_server: RedisServer,
) -> None:
    events = 1_500
    proxy = TCPProxy(aof_server.port)
    workers = Workers(proxy.url, "chaos", events, pace_s=0.004)
    try:
        for fraction in (0.2, 0.45):
            workers.wait_for_progress(fraction)
            aof_server.kill()  # SIGKILL, as a crash
            workers.wait_for_progress(fraction + 0.1)  # publishing and buffering meanwhile
            aof_server.start()
        workers.wait_for_progress(0.7)
        proxy.mode = "drop_replies"  # Redis applies, the workers never hear back
        wait_until(lambda: proxy.dropped_replies >= WORKERS, 60, "replies dropped")
        workers.wait_for_progress(0.8)
        proxy.mode = "pass"
        workers.finish()
    finally:
        workers.kill()
        proxy.close()
    assert all(workers.failed), workers.failed  # every worker saw Redis fail
    assert any(workers.skipped), workers.skipped  # applied batches were sent again
    store = RedisStore(aof_server.url, prefix="chaos")
    check_totals(store, events)
    store.client.close()
