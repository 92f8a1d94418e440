"""200 live dashboards: the metrics service's CPU and read latency under 200 event streams.

Issue 19: with 200 ``/api/v1/stream`` clients the service computed a snapshot per client per
second, burned most of a core, sent events late, and ``/metrics`` slowed from 17 ms to 1.3 s.
The service now computes one snapshot per tick for every stream (``StreamHub``).

Measured in one run, on the same data (the P6 exposition: 1,500 counter and 500 histogram
series in a memory store), each mode its own service process:

- ``shared``: the service as shipped;
- ``per-client``: the reference, the stream as it was (each client's generator computing its
  own snapshot every interval on the thread pool), patched in by the launcher.

For each: the service process's CPU seconds per wall second (from ``/proc``) over a window
with 200 streams open and nothing else, each stream from its own loopback address
(127.0.1.x: the per-address stream cap is 1 here, and holds), and that CPU per event the
clients received (a saturated reference falls behind, sending fewer events than asked, so its
CPU per second understates its cost); then, over a second window, the median and worst
``/metrics`` and ``/api/v1/snapshot`` times, beside the same with no stream open; and the
mean gap between events the clients saw (1 s asked). The clients run in a process of their
own (asyncio, raw sockets). Linux only (``/proc``, the 127/8 loopback).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx2

from bench._harness import Report

COMMAND = "python -m bench streams   (or: nox -s bench -- streams)"

CLIENTS = 200
WARMUP_S = 2.0
CPU_WINDOW_S = 4.0
"""Streams only: the service's CPU over it is the streams' cost."""
PROBE_WINDOW_S = 4.0
"""Streams and the ``/metrics`` and snapshot probes."""
PROBE_GAP_S = 0.25

_LAUNCHER = """
import sys
from agentguard_metrics import MemoryStore
from agentguard_service import create_app, serve
from bench.bench_query import fill_exposition

if sys.argv[2] == "per-client":
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import StreamingResponse
    from agentguard_service._stream import StreamHub

    def per_client(self, client):
        async def frames():
            while True:
                yield await run_in_threadpool(self._compute)
                if await self._stopping.wait(self._interval_s):
                    return
        return StreamingResponse(frames(), media_type="text/event-stream")

    StreamHub.open = per_client

store = MemoryStore()
fill_exposition(store, 1500, 500)
app = create_app(store, rate_limit_per_s=None, max_streams_per_client=1, stream_interval_s=1.0)
serve(app, port=int(sys.argv[1]))
"""


def _cpu_s(pid: int) -> float:
    """CPU seconds (user and system) process ``pid`` has used."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _probe(http: httpx2.Client, path: str) -> float:
    started = time.perf_counter()
    response = http.get(path)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}")
    return elapsed * 1000.0


def _probes(http: httpx2.Client, until: float) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"/metrics": [], "/api/v1/snapshot": []}
    while time.monotonic() < until:
        for path, found in times.items():
            found.append(_probe(http, path))
        time.sleep(PROBE_GAP_S)
    return times


async def _listen(port: int, index: int, until: float, gaps: list[float]) -> None:
    source = f"127.0.1.{index + 1}"
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(b"GET /api/v1/stream HTTP/1.1\r\nHost: bench\r\n\r\n")
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"client {source}: {status!r}")
    last = None
    while (left := until - time.monotonic()) > 0:
        try:
            line = await asyncio.wait_for(reader.readline(), left)
        except asyncio.TimeoutError:
            break
        if line.startswith(b"event: "):
            now = time.monotonic()
            if last is not None:
                gaps.append(now - last)
            last = now
    writer.close()


async def _clients(port: int, seconds: float) -> list[float]:
    gaps: list[float] = []
    until = time.monotonic() + seconds
    await asyncio.gather(*(_listen(port, i, until, gaps) for i in range(CLIENTS)))
    return gaps


def _mode(name: str) -> dict[str, float]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, str(port), name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    clients = None
    try:
        with httpx2.Client(base_url=url, timeout=30.0) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    http.get("/healthz")
                    break
                except httpx2.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError(f"the {name} service did not start") from None
                    time.sleep(0.05)
            _probes(http, time.monotonic() + 1.0)  # warm-up
            idle = _probes(http, time.monotonic() + PROBE_WINDOW_S)
            clients = subprocess.Popen(
                [sys.executable, "-m", "bench.bench_streams", "--clients", str(port)],
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(WARMUP_S)
            cpu_before, wall_before = _cpu_s(server.pid), time.monotonic()
            time.sleep(CPU_WINDOW_S)
            cpu = (_cpu_s(server.pid) - cpu_before) / (time.monotonic() - wall_before)
            loaded = _probes(http, time.monotonic() + PROBE_WINDOW_S)
            out, _ = clients.communicate(timeout=WARMUP_S + CPU_WINDOW_S + PROBE_WINDOW_S + 60)
            gaps = json.loads(out)
    finally:
        if clients is not None and clients.poll() is None:
            clients.kill()
        server.terminate()
        server.wait(10)
    return {
        "cpu": cpu,
        "cpu_per_event_ms": cpu * statistics.mean(gaps) / CLIENTS * 1000.0,
        "metrics_idle": statistics.median(idle["/metrics"]),
        "snapshot_idle": statistics.median(idle["/api/v1/snapshot"]),
        "metrics": statistics.median(loaded["/metrics"]),
        "metrics_max": max(loaded["/metrics"]),
        "snapshot": statistics.median(loaded["/api/v1/snapshot"]),
        "gap": statistics.mean(gaps),
        "events": len(gaps),
    }


def run() -> Report:
    """Both modes, then the figures side by side."""
    report = Report(f"{CLIENTS} event streams on the metrics service (issue 19)", COMMAND)
    reference = _mode("per-client")
    shared = _mode("shared")
    for label, figures in (("per-client (reference)", reference), ("shared", shared)):
        report.lines.append(
            f"  {label:<24} CPU {figures['cpu']:.2f} s/s "
            f"({figures['cpu_per_event_ms']:.2f} ms per event sent); /metrics median "
            f"{figures['metrics']:.0f} ms (max {figures['metrics_max']:.0f}, idle "
            f"{figures['metrics_idle']:.0f}); snapshot median {figures['snapshot']:.0f} ms "
            f"(idle {figures['snapshot_idle']:.0f}); events every {figures['gap']:.2f} s"
        )
    report.target(
        "service CPU per event sent to 200 streams, x the reference",
        shared["cpu_per_event_ms"] / reference["cpu_per_event_ms"],
        0.25,
        "x",
        f"{shared['cpu']:.2f} against {reference['cpu']:.2f} CPU s per s",
    )
    report.target(
        "/metrics median under 200 streams, x idle",
        shared["metrics"] / shared["metrics_idle"],
        2.0,
        "x",
        f"{shared['metrics']:.0f} ms against {shared['metrics_idle']:.0f} ms idle",
    )
    report.target(
        "mean gap between events (1 s asked)",
        shared["gap"],
        1.1,
        "s",
        f"{shared['events']} gaps seen by {CLIENTS} clients",
    )
    return report


def _main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_streams")
    parser.add_argument("--clients", type=int, metavar="PORT", help="run the stream clients")
    args = parser.parse_args()
    if args.clients is not None:
        seconds = WARMUP_S + CPU_WINDOW_S + PROBE_WINDOW_S
        print(json.dumps(asyncio.run(_clients(args.clients, seconds))))
        return 0
    run().print()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
