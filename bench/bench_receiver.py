"""The receiver: verified deliveries a second and p99 acknowledgement latency (DESIGN.md P8).

The receiver runs in its own process on uvicorn (``serve`` over ``create_app``, SQLite in
memory, the per-client rate limit off since every client here shares one address); a few
client threads here, each on its own keep-alive httpx2 connection, sign every post with the
reference ``standardwebhooks`` library and time each acknowledgement.
"""

from __future__ import annotations

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
THREADS = 4
DURATION_S = 5.0

_LAUNCHER = """
import sys
from agentguard_receiver import create_app, serve
serve(create_app(secrets=[sys.argv[1]], rate_limit_per_s=None), port=int(sys.argv[2]))
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


def _client(url: str, stop_at: float, latencies: list[float], errors: list[int]) -> None:
    webhook = Webhook(SECRET)
    index = 0
    with httpx2.Client(base_url=url, timeout=10.0) as http:
        while time.perf_counter() < stop_at:
            index += 1
            body = _body(index)
            msg_id = f"msg_{uuid.uuid4().hex}"
            now = datetime.now(tz=timezone.utc)
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": webhook.sign(msg_id=msg_id, timestamp=now, data=body.decode()),
            }
            started = time.perf_counter()
            status = http.post("/webhooks/alerts", content=body, headers=headers).status_code
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)


def run() -> Report:
    """Measure deliveries a second and the p99 acknowledgement against a receiver process."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, SECRET, str(port)],
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
        warmup: list[float] = []
        _client(url, time.perf_counter() + 0.5, warmup, [])
        latencies: list[float] = []
        errors: list[int] = []
        started = time.perf_counter()
        stop_at = started + DURATION_S
        threads = [
            threading.Thread(target=_client, args=(url, stop_at, latencies, errors))
            for _ in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)
    per_s = (len(latencies) - len(errors)) / elapsed
    latencies.sort()
    p99_ms = latencies[int(len(latencies) * 0.99) - 1] * 1000
    detail = f"{len(latencies)} posts, {THREADS} keep-alive client threads, {len(errors)} non-200"
    report.target(
        "ms per verified delivery (inverse of deliveries/s)",
        1000 / per_s,
        1.0,
        "ms",
        f"{per_s:,.0f}/s; {detail}",
    )
    report.target("p99 acknowledgement latency", p99_ms, 50.0, "ms", detail)
    if errors:
        report.failures.append(f"receiver: {len(errors)} posts were not acknowledged with 200")
    return report


if __name__ == "__main__":
    report = run()
    report.print()
    raise SystemExit(1 if report.failures else 0)
