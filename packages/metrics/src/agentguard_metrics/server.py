"""Running the metrics app on uvicorn: in the foreground, or on a background thread.

The background thread is how an agent process serves its own memory store (the embedded
default), and how tests and benchmarks run a real server::

    store = MemoryStore()
    Aggregator(store).attach()
    with MetricsService(create_app(store), port=9464) as service:
        ...  # service.url + "/api/v1/snapshot"
"""

from __future__ import annotations

import threading
import time
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

from agentguard_metrics.app import stop_streams

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "MetricsService", "serve"]

DEFAULT_HOST = "127.0.0.1"
"""The service binds loopback unless told otherwise."""

DEFAULT_PORT = 9464
"""The port of ``agentguard serve`` (Prometheus exporters' customary 9464)."""

_GRACE_S = 2


def _config(app: Starlette, host: str, port: int, *, log_config: bool) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,
        log_config=uvicorn.config.LOGGING_CONFIG if log_config else None,
        timeout_graceful_shutdown=_GRACE_S,
        server_header=False,
    )


class _Server(uvicorn.Server):
    """A uvicorn server that ends the app's event streams as soon as it is asked to stop."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        stop_streams(self._app)
        super().handle_exit(sig, frame)


def serve(app: Starlette, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve ``app`` until interrupted (Ctrl-C or SIGTERM), logging as uvicorn does."""
    _Server(_config(app, host, port, log_config=True), app).run()


class MetricsService:
    """Serves an app of :func:`~agentguard_metrics.app.create_app` on a background thread.

    ``port=0`` picks a free port; read the one chosen from :attr:`port` or :attr:`url`. Use
    it as a context manager, or call :meth:`close`, which ends open event streams first and
    waits at most ``timeout_s`` for the thread.

    Raises:
        RuntimeError: the server did not start within ``startup_timeout_s`` (the port is
            taken, say).
    """

    def __init__(
        self,
        app: Starlette,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        startup_timeout_s: float = 10.0,
    ) -> None:
        self._app = app
        self._server = _Server(_config(app, host, port, log_config=False), app)
        self._thread = threading.Thread(
            target=self._server.run, name="agentguard-metrics-service", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                raise RuntimeError(f"the metrics service did not start on {host}:{port}")
            time.sleep(0.005)
        sockname = self._server.servers[0].sockets[0].getsockname()
        self.host: str = host
        """The address served."""
        self.port: int = int(sockname[1])
        """The port served (the one picked when ``port=0`` was given)."""

    @property
    def url(self) -> str:
        """The base URL, like ``http://127.0.0.1:9464``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is still alive."""
        return self._thread.is_alive()

    def close(self, timeout_s: float = _GRACE_S + 3.0) -> None:
        """End open streams, stop serving, wait at most ``timeout_s`` for the thread."""
        stop_streams(self._app)
        self._server.should_exit = True
        self._thread.join(timeout_s)

    def __enter__(self) -> MetricsService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<MetricsService {self.url}{'' if self.running else ' (stopped)'}>"
