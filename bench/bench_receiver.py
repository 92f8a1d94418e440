"""The receiver: verified deliveries a second and p99 acknowledgement latency (DESIGN.md P8).

Three kinds of process, as in production: the receiver in its own process on uvicorn
(``serve`` over ``create_app``, SQLite in memory, the per-client rate limit off since every
client here shares one address), and load generators in processes of their own
(``python -m bench.bench_receiver --load URL ...``), so the client's work does not share the
receiver's interpreter. Each generator signs its posts with the reference
``standardwebhooks`` library before the clock starts (a distinct ``webhook-id`` each, so every
post is verified and stored, none is a replay), then sends them on keep-alive connections, one
at a time per connection, timing each acknowledgement, and prints the latencies as JSON.

The same load is then sent to ``POST /webhooks/anthropic`` (Anthropic platform events, each
stored once and one in two turned into an alert), in the same run against the same process:
P8 holds for both paths, and the ratio tells what the Anthropic path costs beyond the other.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone

import httpx2
from standardwebhooks import Webhook

from bench._harness import Report

COMMAND = "nox -s bench -- receiver   (or: python -m bench receiver)"

SECRET = "whsec_" + base64.b64encode(b"the receiver benchmark's secret!").decode()
ANTHROPIC_SECRET = "whsec_" + base64.b64encode(b"the benchmark's Anthropic key!!!").decode()
GENERATORS = 2
"""Load-generator processes."""
CONNECTIONS = 4
"""Keep-alive connections (threads) per generator."""
DURATION_S = 5.0

_LAUNCHER = """
import sys
from agentguard_receiver import create_app, serve
serve(
    create_app(secrets=[sys.argv[1]], anthropic_secrets=[sys.argv[3]], rate_limit_per_s=None),
    port=int(sys.argv[2]),
)
"""


def _body(index: int) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "groupKey": "{}:{alertname=Bench}",
            "status": "firing",
            "receiver": "bench",
            "groupLabels": {"alertname": "Bench"},
            "commonLabels": {"alertname": "Bench"},
            "commonAnnotations": {},
            "externalURL": "http://bench",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "Bench", "n": str(index)},
                    "annotations": {"summary": "bench"},
                    "startsAt": "2026-01-01T00:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "fingerprint": f"{index:016x}",
                }
            ],
        }
    ).encode()


def _anthropic_body(index: int) -> bytes:
    """An Anthropic event; every other one (``session.budget_reached``) becomes an alert."""
    return json.dumps(
        {
            "type": "event",
            "id": f"wevt_{uuid.uuid4().hex}",
            "created_at": "2026-01-01T00:00:00Z",
            "data": {
                "type": "session.budget_reached" if index % 2 else "session.status_idled",
                "id": f"sesn_{index:016x}",
                "organization_id": "org_bench",
                "workspace_id": "wrkspc_bench",
            },
        }
    ).encode()


def _signed_requests(port: int, count: int, path: str) -> list[bytes]:
    """``count`` complete HTTP/1.1 requests, each signed now with a webhook-id of its own."""
    anthropic = path == "/webhooks/anthropic"
    webhook = Webhook(ANTHROPIC_SECRET if anthropic else SECRET)
    now = datetime.now(tz=timezone.utc)
    stamp = str(int(now.timestamp()))
    requests = []
    for index in range(count):
        body = _anthropic_body(index) if anthropic else _body(index)
        msg_id = f"msg_{uuid.uuid4().hex}"
        signature = webhook.sign(msg_id=msg_id, timestamp=now, data=body.decode())
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"webhook-id: {msg_id}\r\nwebhook-timestamp: {stamp}\r\n"
            f"webhook-signature: {signature}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


def _exchange(sock: socket.socket, request: bytes, pending: bytearray) -> int:
    """Send one request on a keep-alive socket and read its whole answer; the status."""
    sock.sendall(request)
    while b"\r\n\r\n" not in pending:
        pending += sock.recv(65536) or b""
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += sock.recv(65536)
    pending[:] = rest[length:]
    return int(head.split(b" ", 2)[1])


def _connection(
    port: int, requests: list[bytes], stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    pending = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for request in requests:
            if time.perf_counter() >= stop_at:
                return
            started = time.perf_counter()
            status = _exchange(sock, request, pending)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)


def load(port: int, duration_s: float, connections: int, per_connection: int, path: str) -> None:
    """A load generator's main: post for ``duration_s``, print ``{"latencies", "errors"}``."""
    prepared = [_signed_requests(port, per_connection, path) for _ in range(connections)]
    latencies: list[float] = []
    errors: list[int] = []
    stop_at = time.perf_counter() + duration_s
    threads = [
        threading.Thread(target=_connection, args=(port, r, stop_at, latencies, errors))
        for r in prepared
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"latencies": latencies, "errors": errors}))


def _generators(
    port: int, duration_s: float, per_connection: int, path: str
) -> list[subprocess.Popen[str]]:
    command = [sys.executable, "-m", "bench.bench_receiver", "--load", str(port)]
    options = ["--duration", str(duration_s), "--connections", str(CONNECTIONS), "--path", path]
    return [
        subprocess.Popen(
            [*command, *options, "--requests", str(per_connection)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(GENERATORS)
    ]


def _collect(processes: list[subprocess.Popen[str]]) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    errors: list[int] = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        result = json.loads(out)
        latencies += result["latencies"]
        errors += result["errors"]
    return latencies, errors


def run() -> Report:
    """Measure deliveries a second and the p99 acknowledgement against a receiver process."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, SECRET, str(port), ANTHROPIC_SECRET],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    report = Report("receiver (P8)", COMMAND)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx2.get(f"{url}/healthz", timeout=1)
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the receiver did not start") from None
                time.sleep(0.05)
        measured = {}
        for path in ("/webhooks/alerts", "/webhooks/anthropic"):
            _collect(_generators(port, 0.5, 2_000, path))  # warm-up
            # Each generator signs its requests first; the clock starts in each once it sends.
            measured[path] = _collect(_generators(port, DURATION_S, 10_000, path))
    finally:
        server.terminate()
        server.wait(10)
    rates = {}
    for path, (latencies, errors) in measured.items():
        rates[path] = per_s = (len(latencies) - len(errors)) / DURATION_S
        latencies.sort()
        p99_ms = latencies[int(len(latencies) * 0.99) - 1] * 1000
        detail = (
            f"{path}: {len(latencies)} posts from {GENERATORS} load-generator processes x "
            f"{CONNECTIONS} keep-alive connections, {len(errors)} non-200"
        )
        report.target(
            f"ms per verified delivery (1/rate), {path}",
            1000 / per_s,
            1.0,
            "ms",
            f"{per_s:,.0f}/s; {detail}",
        )
        report.target(f"p99 acknowledgement latency, {path}", p99_ms, 50.0, "ms", detail)
        if errors:
            report.failures.append(
                f"receiver: {len(errors)} posts to {path} were not acknowledged with 200"
            )
    ratio = rates["/webhooks/anthropic"] / rates["/webhooks/alerts"]
    report.lines.append(
        f"  {'Anthropic events / alert notifications a second, same run':<58} {ratio:10.2f} x"
    )
    return report


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--load", type=int, metavar="PORT", help="run as a load generator")
    parser.add_argument("--duration", type=float, default=DURATION_S)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--requests", type=int, default=20_000, help="prepared per connection")
    parser.add_argument("--path", default="/webhooks/alerts", help="the path to post to")
    args = parser.parse_args()
    if args.load is not None:
        load(args.load, args.duration, args.connections, args.requests, args.path)
        return 0
    report = run()
    report.print()
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(_main())
