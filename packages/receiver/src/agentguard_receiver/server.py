"""Running the receiver on uvicorn: in the foreground, or on a background thread."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from starlette.types import ASGIApp

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Receiver", "serve"]

DEFAULT_HOST = "127.0.0.1"
"""The receiver binds loopback unless told otherwise."""

DEFAULT_PORT = 9465
"""The port of ``agentguard receive``."""


def _config(app: ASGIApp, host: str, port: int, *, log_config: bool) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,
        log_config=uvicorn.config.LOGGING_CONFIG if log_config else None,
        timeout_graceful_shutdown=2,
        server_header=False,
    )


def serve(app: ASGIApp, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve ``app`` until interrupted (Ctrl-C or SIGTERM), logging as uvicorn does."""
    uvicorn.Server(_config(app, host, port, log_config=True)).run()


class Receiver:
    """Serves an app on a background thread; for tests, benchmarks and the demo.

    ``port=0`` picks a free port; read the one chosen from :attr:`port` or :attr:`url`.
    Use it as a context manager, or call :meth:`close`.

    Raises:
        RuntimeError: the server did not start within ``startup_timeout_s``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        startup_timeout_s: float = 10.0,
    ) -> None:
        self._server = uvicorn.Server(_config(app, host, port, log_config=False))
        self._thread = threading.Thread(
            target=self._server.run, name="agentguard-receiver", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                raise RuntimeError(f"the receiver did not start on {host}:{port}")
            time.sleep(0.005)
        sockname = self._server.servers[0].sockets[0].getsockname()
        self.host: str = host
        """The address served."""
        self.port: int = int(sockname[1])
        """The port served (the one picked when ``port=0`` was given)."""

    @property
    def url(self) -> str:
        """The base URL, like ``http://127.0.0.1:9465``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop serving and wait for the thread (and the alert store) to finish."""
        self._server.should_exit = True
        self._thread.join(timeout_s)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
