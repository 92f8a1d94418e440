"""``/metrics`` from the agent process: :func:`start_http_server`.

A background daemon thread (one more per request) answers ``GET /metrics`` with
prometheus-client's exposition of the registry: Prometheus text, or OpenMetrics when
``Accept`` asks, gzipped when accepted; other paths 404. With ``basic_auth`` or
``bearer_token``, a request without them gets 401 (compared in constant time, never logged).
It binds 127.0.0.1 unless told otherwise.

The trap: the registry, and so this endpoint, is per process; under several worker processes
give each a port, or go through agentguard-redis and ``agentguard serve``
(packages/prometheus/README.md, "Several processes").
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, make_wsgi_app

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

__all__ = ["MetricsServer", "start_http_server"]

_StartResponse = Callable[..., object]
_App = Callable[[dict[str, Any], _StartResponse], Iterable[bytes]]
_PATH = "/metrics"


class MetricsServer:
    """A running ``/metrics`` server. Close it to stop; it is also a context manager."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self._closed = False

    @property
    def host(self) -> str:
        """The address the server is bound to."""
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The port the server listens on (the one picked when asked for port 0)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The URL of the metrics, ``http://host:port/metrics``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{_PATH}"

    def close(self) -> None:
        """Stop serving and release the port. Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<MetricsServer {self.url}{' (closed)' if self._closed else ''}>"


def start_http_server(
    port: int,
    host: str = "127.0.0.1",
    *,
    registry: CollectorRegistry | None = None,
    basic_auth: tuple[str, str] | None = None,
    bearer_token: str | None = None,
) -> MetricsServer:
    """Serve ``GET /metrics`` of ``registry`` on ``host:port`` from a background thread.

    Args:
        port: The TCP port; 0 picks a free one (read it from ``.port``).
        host: The address to bind; 127.0.0.1 keeps the metrics on this machine.
        registry: The registry to expose; by default prometheus-client's global ``REGISTRY``.
        basic_auth: ``(user, password)`` that a scraper must send with HTTP basic auth.
        bearer_token: A token a scraper may send as ``Authorization: Bearer <token>``. With
            both set, either is accepted.

    Raises:
        ValueError: An empty user, password or token.
        OSError: The address cannot be bound (the port is taken).
    """
    if basic_auth is not None and not all(basic_auth):
        raise ValueError("basic_auth needs a non-empty (user, password) pair")
    if bearer_token is not None and not bearer_token:
        raise ValueError("bearer_token must not be empty; pass None for no token")
    app = _only_metrics(make_wsgi_app(REGISTRY if registry is None else registry))
    if basic_auth is not None or bearer_token is not None:
        app = _authenticated(app, basic_auth, bearer_token)
    server = make_server(host, port, app, _Server, handler_class=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name=f"agentguard-metrics:{server.server_address[1]}",
        daemon=True,
    )
    thread.start()
    return MetricsServer(server, thread)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[WSGIRequestHandler]) -> None:
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: request lines would flood the agent's logs every scrape."""


def _only_metrics(app: _App) -> _App:
    def serve(environ: dict[str, Any], start_response: _StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") in (_PATH, _PATH + "/"):
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"not found; the metrics are at {_PATH}\n".encode()]

    return serve


def _authenticated(app: _App, basic_auth: tuple[str, str] | None, bearer_token: str | None) -> _App:
    expected_basic = (
        None
        if basic_auth is None
        else base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
    )
    challenges = []
    if basic_auth is not None:
        challenges.append(("WWW-Authenticate", 'Basic realm="agentguard metrics"'))
    if bearer_token is not None:
        challenges.append(("WWW-Authenticate", 'Bearer realm="agentguard metrics"'))

    def allowed(header: str) -> bool:
        scheme, _, credentials = header.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "basic" and expected_basic is not None:
            try:
                normal = base64.b64encode(base64.b64decode(credentials, validate=True)).decode()
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(normal.encode(), expected_basic.encode())
        if scheme.lower() == "bearer" and bearer_token is not None:
            return hmac.compare_digest(credentials.encode(), bearer_token.encode())
        return False

    def serve(environ: dict[str, Any], start_response: _StartResponse) -> Iterable[bytes]:
        if allowed(environ.get("HTTP_AUTHORIZATION", "")):
            return app(environ, start_response)
        start_response(
            "401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"), *challenges]
        )
        return [b"unauthorized: send the credentials this endpoint was started with\n"]

    return serve
