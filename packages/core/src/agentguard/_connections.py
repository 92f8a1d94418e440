"""The per-connection deadlines and the connection cap of :mod:`agentguard.serving`.

A subclass of the HTTP protocol uvicorn would pick itself, so it sees every byte arrive
(uvicorn has no header or body deadline, and an ASGI middleware runs only once the headers are
in). A connection is waiting for a request's headers (``header_timeout_s`` from the start of
the phase, not from the last byte), reading its body (``body_timeout_s`` from the end of the
headers) or answering (no deadline). Over its deadline it gets 408 if it had sent part of a
request, and is closed. At ``max_connections`` a new connection displaces the one waiting
longest for headers, or gets 503 when every one is busy. An answer given before the body was
all in drains at most :data:`DRAIN_BYTES` more, then closes. Why: docs/architecture.md,
"Connections (both servers)".
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from agentguard.episodes import FailureEpisodes

if TYPE_CHECKING:
    from agentguard.serving import ConnectionLimits

__all__ = ["guarded_protocol"]

logger = logging.getLogger("agentguard.serving")

_HEADERS, _BODY, _ANSWER = "headers", "body", "answer"

DRAIN_BYTES = 1024 * 1024
"""Bytes of a refused request's body read and dropped before its connection is closed."""


def _plain(status: str, code: str, message: str, retry_after_s: int | None = None) -> bytes:
    body = f'{{"error": "{code}", "message": "{message}"}}'.encode()
    retry = f"retry-after: {retry_after_s}\r\n" if retry_after_s is not None else ""
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{retry}connection: close\r\n\r\n"
    ).encode() + body


_TIMED_OUT = _plain(
    "408 Request Timeout", "REQUEST_TIMEOUT", "the request was not sent in time; send it again"
)
_TOO_MANY = _plain(
    "503 Service Unavailable",
    "TOO_MANY_CONNECTIONS",
    "the server has as many connections open as it allows; retry later",
    retry_after_s=1,
)


def guarded_protocol(limits: ConnectionLimits, max_connections: int) -> type[asyncio.Protocol]:
    """The HTTP protocol class uvicorn would pick, with ``limits`` enforced.

    Args:
        limits: The deadlines.
        max_connections: The cap on open connections (``limits.max_connections``, lowered to
            what the process's file descriptor limit allows).
    """
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    base: Any = AutoHTTPProtocol
    episodes = FailureEpisodes(logger)
    refusing = "agentguard.serving: connection cap"
    waiting: dict[Any, None] = {}  # connections waiting for headers, longest-waiting first
    closing: set[Any] = set()  # connections closed for new ones, not yet gone

    class GuardedProtocol(base):  # type: ignore[misc]  # uvicorn's pick is only known at runtime
        """uvicorn's HTTP protocol with a deadline per phase and a cap on connections."""

        _phase = ""
        _deadline: asyncio.TimerHandle | None = None
        _refused = False
        _heard = False
        _draining = -1  # bytes of an answered request's body dropped so far; -1: none
        _answered: object = None  # the request whose body is being dropped

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            if len(self.connections) - len(closing) >= max_connections and waiting:
                oldest = next(iter(waiting))
                oldest._expire()
                closing.add(oldest)
                waiting.pop(oldest, None)
            if len(self.connections) - len(closing) >= max_connections:
                self._refused = True
                episodes.failed(
                    refusing,
                    f"{max_connections} connections are open, the most allowed: new ones are "
                    "answered 503 and closed (raise max_connections, or find who holds them)",
                )
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(_TOO_MANY)
                transport.close()
                return
            if episodes.failing(refusing):
                episodes.recovered(refusing)
            super().connection_made(transport)
            self._track()

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            self._heard = True
            if self._draining >= 0:
                self._draining += len(data)
                if self._draining > DRAIN_BYTES:
                    self.transport.close()
                    return
            super().data_received(data)
            if self._draining >= 0 and self.cycle is not self._answered:
                self._draining, self._answered = -1, None  # the next request came
            self._track()

        def on_response_complete(self) -> None:
            cycle = self.cycle
            if cycle is not None and cycle.more_body:
                self._draining, self._answered = 0, cycle
            super().on_response_complete()
            self._track()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._refused:
                return
            waiting.pop(self, None)
            closing.discard(self)
            self._disarm()
            super().connection_lost(exc)

        def _track(self) -> None:
            """Start the clock of the phase the connection is in, if it just entered it."""
            cycle = self.cycle
            if cycle is None or cycle.response_complete:
                phase = _HEADERS
            elif cycle.more_body:
                phase = _BODY
            else:
                phase = _ANSWER
            if phase == self._phase:
                return
            self._phase = phase
            self._heard = False
            self._disarm()
            waiting.pop(self, None)
            if phase == _HEADERS:
                waiting[self] = None
            if phase != _ANSWER and not self.transport.is_closing():
                timeout_s = limits.header_timeout_s if phase == _HEADERS else limits.body_timeout_s
                self._deadline = self.loop.call_later(timeout_s, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            cycle = self.cycle
            started = cycle is not None and not cycle.response_complete and cycle.response_started
            answered = self._draining >= 0
            if (self._heard or self._phase == _BODY) and not started and not answered:
                self.transport.write(_TIMED_OUT)
            self.transport.close()

    return GuardedProtocol
