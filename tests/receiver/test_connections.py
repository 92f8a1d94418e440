"""The receiver under idle and half-sent connections, and a refused upload, on real sockets.

Kept small for a 2-core CI machine: 200 held connections, deadlines of 2 s.
"""

from __future__ import annotations

import contextlib
import socket
import time

import httpx2

from agentguard.serving import ConnectionLimits
from agentguard_receiver import Receiver, create_app
from receiver.conftest import MakeReceiver
from receiver.webhooks import SECRET, TOKEN, encode, notification, signed_headers

DEADLINE_S = 2.0
SLACK_S = 5.0
MIB = 1024 * 1024


def _open(port: int, first_bytes: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S + SLACK_S)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


def test_hundreds_of_idle_and_half_sent_connections_neither_block_nor_stay() -> None:
    limits = ConnectionLimits(header_timeout_s=DEADLINE_S, body_timeout_s=DEADLINE_S)
    half_body = (
        b"POST /webhooks/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: 500\r\n\r\n{"
    )
    with Receiver(
        create_app(secrets=[SECRET], token=TOKEN, rate_limit_per_s=None), limits=limits
    ) as served:
        held = [_open(served.port, b"") for _ in range(100)]
        held += [_open(served.port, b"POST /webhooks/alerts HTTP/1.1\r\nHo") for _ in range(50)]
        held += [_open(served.port, half_body) for _ in range(50)]
        opened = time.monotonic()
        try:
            with httpx2.Client(base_url=served.url, timeout=DEADLINE_S) as http:
                for n in range(5):  # real deliveries while all 200 are open
                    body = encode(notification(alertname=f"Real{n}"))
                    answer = http.post(
                        "/webhooks/alerts", content=body, headers=signed_headers(body)
                    )
                    assert answer.json() == {"stored": 1, "duplicate": False}
                assert time.monotonic() - opened < DEADLINE_S, "served before any deadline"
                names = [
                    a["labels"]["alertname"] for a in http.get("/api/v1/alerts").json()["alerts"]
                ]
            assert sorted(names) == [f"Real{n}" for n in range(5)]
            answers = []
            for sock in held:  # each is closed by the server within its deadline
                received = b""
                while chunk := sock.recv(65536):
                    received += chunk
                answers.append(received)
        finally:
            for sock in held:
                sock.close()
    assert answers[:100] == [b""] * 100, "idle connections are closed without a word"
    assert all(a.startswith(b"HTTP/1.1 408 Request Timeout\r\n") for a in answers[100:])


def test_a_413_on_a_chunked_upload_does_not_read_the_rest(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver(max_body_bytes=64 * 1024)
    head = (
        b"POST /webhooks/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10.0) as sock:
        sock.sendall(head)
        try:
            while sent < 100 * MIB:  # what a client with 100 MB to upload would do
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the receiver closed the connection
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):
                answer += data
    assert sent < 32 * MIB, f"the receiver read {sent / MIB:.0f} MiB of a refused upload"
    if answer:  # the answer may be lost to the reset that closing a full socket sends
        assert answer.startswith(b"HTTP/1.1 413")
    with httpx2.Client(base_url=receiver.url) as http:
        assert http.get("/healthz").status_code == 200


def test_a_small_refused_body_still_gets_its_answer_and_keeps_the_connection(
    make_receiver: MakeReceiver,
) -> None:
    receiver = make_receiver(max_body_bytes=1024)
    body = b"[" + b"1," * 5000 + b"1]"  # 10 kB: refused from its Content-Length, before reading
    with httpx2.Client(base_url=receiver.url, timeout=5.0) as http:
        for _ in range(3):
            answer = http.post(
                "/webhooks/alerts",
                content=body,
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            )
            assert answer.status_code == 413
            assert answer.json()["error"] == "PAYLOAD_TOO_LARGE"
