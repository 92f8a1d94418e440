"""agentguard.serving's connection limits, through real sockets against real uvicorn.

Each deadline is short here (half a second) and every check waits at most the deadline and a
generous slack: the server must close the connection within that, or the read times out.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agentguard.serving import BackgroundServer, ConnectionLimits

TIMEOUT_S = 0.5
SLACK_S = 5.0
LIMITS = ConnectionLimits(
    header_timeout_s=TIMEOUT_S, body_timeout_s=TIMEOUT_S, keep_alive_s=TIMEOUT_S
)
GET = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


async def echo_length(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, then answers 200 with its length."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(echo_length, host="127.0.0.1", name="test server", limits=LIMITS) as s:
        yield s


def connect(server: BackgroundServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S + SLACK_S)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; raises TimeoutError if it never does."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def read_response(sock: socket.socket) -> bytes:
    """One whole response with a ``content-length``: its head and body."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(head.lower().partition(b"content-length: ")[2].partition(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_connection_that_sends_nothing_is_closed_silently(server: BackgroundServer) -> None:
    with connect(server) as sock:
        assert read_until_closed(sock) == b""


@pytest.mark.parametrize(
    "partial",
    [
        b"GET / HT",
        b"GET / HTTP/1.1\r\nHost: test\r\n",
        b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nhalf a body",
        b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ],
    ids=["request line", "headers", "body", "chunked body"],
)
def test_a_half_sent_request_gets_408_and_is_closed(
    server: BackgroundServer, partial: bytes
) -> None:
    with connect(server) as sock:
        sock.sendall(partial)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"] == "REQUEST_TIMEOUT"


def test_trickling_bytes_does_not_extend_the_header_deadline(server: BackgroundServer) -> None:
    request = b"GET / HTTP/1.1\r\nHost: test\r\nX-Padding: " + b"a" * 200
    sent = 0
    with connect(server) as sock:
        started = time.monotonic()
        try:
            for byte in request:  # one byte every 50 ms: 10 s for all of it
                sock.sendall(bytes([byte]))
                sent += 1
                time.sleep(0.05)
        except OSError:
            pass  # closed under us, as it should be
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408")
    assert sent < len(request), "closed before the slow client sent everything"
    assert time.monotonic() - started < TIMEOUT_S + SLACK_S


def test_a_request_sent_in_pieces_within_the_deadline_is_served(server: BackgroundServer) -> None:
    pieces = [b"POST / HTTP/1.1\r\nHost: te", b"st\r\nContent-Length: 4\r\n\r\n", b"ab", b"cd"]
    with connect(server) as sock:
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(TIMEOUT_S / 10)
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(b"\r\n\r\n4")


def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(
    server: BackgroundServer,
) -> None:
    with connect(server) as sock:
        sock.sendall(GET)
        first = read_response(sock)
        sock.sendall(GET)  # the connection is kept between requests
        second = read_response(sock)
        sock.settimeout(TIMEOUT_S + 2.0)  # well before uvicorn's own default of 5 s
        assert read_until_closed(sock) == b""
    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")


HALF_BODY = (
    b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\nhalf"
)


def test_at_the_cap_a_new_connection_displaces_the_longest_idle_one() -> None:
    limits = ConnectionLimits(header_timeout_s=30.0, max_connections=20)
    with BackgroundServer(echo_length, host="127.0.0.1", limits=limits) as server:
        held = [connect(server) for _ in range(20)]  # a flood of idle connections
        try:
            held[0].sendall(GET)  # held[0] is served, so held[1] is now the longest idle
            assert read_response(held[0]).startswith(b"HTTP/1.1 200")
            for n in range(3):  # real clients are served, and keep their connections
                real = connect(server)
                held.append(real)
                real.sendall(GET)
                assert read_response(real).startswith(b"HTTP/1.1 200"), n
            assert [read_until_closed(sock) for sock in held[1:4]] == [b""] * 3
            for sock in (held[0], held[4], held[-1]):  # the others were kept
                sock.sendall(GET)
                assert read_response(sock).startswith(b"HTTP/1.1 200")
        finally:
            for sock in held:
                sock.close()


def test_at_the_cap_with_every_connection_busy_a_new_one_gets_503() -> None:
    limits = ConnectionLimits(body_timeout_s=30.0, max_connections=20)
    with BackgroundServer(echo_length, host="127.0.0.1", limits=limits) as server:
        busy = [connect(server) for _ in range(20)]
        try:
            for sock in busy:  # each is reading a body: none may be displaced
                sock.sendall(HALF_BODY)
                assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"  # the body is read
            with connect(server) as extra:
                refused = read_until_closed(extra)
            assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
            assert b"retry-after: 1\r\n" in refused
            assert json.loads(refused.partition(b"\r\n\r\n")[2])["error"] == "TOO_MANY_CONNECTIONS"
            busy[0].sendall(b"x" * 96)  # the busy ones are served all along
            assert read_response(busy[0]).endswith(b"\r\n\r\n100")
        finally:
            for sock in busy:
                sock.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"header_timeout_s": 0}, "header_timeout_s must be a positive number of seconds"),
        ({"body_timeout_s": float("inf")}, "body_timeout_s must be a positive"),
        ({"keep_alive_s": -1.0}, "keep_alive_s must be a positive"),
        ({"max_connections": 0}, "max_connections must be an int >= 1"),
        ({"max_connections": 1.5}, "max_connections must be an int >= 1"),
    ],
)
def test_bad_limits_fail_at_once(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConnectionLimits(**options)
