"""Running an ASGI app on uvicorn: in the foreground, or on a background thread.

The servers of agentguard (the metrics service, the alert receiver) run the same way: bound
to loopback unless told otherwise, no access log, a short graceful shutdown, and, for tests,
demos and agents serving their own metrics, on a daemon thread with ``port=0`` picking a free
port. They may not depend on each other, so the mechanics live here once.

uvicorn is imported when a server is made, not with this module: the core does not need it,
and the packages that serve declare ``agentguard[serving]``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import uvicorn

__all__ = ["GRACE_S", "BackgroundServer", "serve"]

_S = TypeVar("_S", bound="BackgroundServer")

GRACE_S = 2
"""Seconds open connections get to finish when a server stops."""


def _server(
    app: Any, host: str, port: int, *, log_config: bool, on_stop: Callable[[], object] | None
) -> uvicorn.Server:
    import uvicorn

    class _Server(uvicorn.Server):
        """A uvicorn server that calls ``on_stop`` as soon as it is asked to stop."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if on_stop is not None:
                on_stop()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,
        log_config=uvicorn.config.LOGGING_CONFIG if log_config else None,
        timeout_graceful_shutdown=GRACE_S,
        server_header=False,
    )
    return _Server(config)


def serve(app: Any, *, host: str, port: int, on_stop: Callable[[], object] | None = None) -> None:
    """Serve ``app`` until interrupted (Ctrl-C or SIGTERM), logging as uvicorn does.

    ``on_stop`` runs as soon as the stop is asked for (to end long-lived responses, say).
    """
    _server(app, host, port, log_config=True, on_stop=on_stop).run()


class BackgroundServer:
    """Serves an ASGI app on a daemon thread until :meth:`close`.

    ``port=0`` picks a free port; read the one chosen from :attr:`port` or :attr:`url`. Use
    it as a context manager, or call :meth:`close`, which calls ``on_stop`` first (to end
    long-lived responses) and waits at most ``timeout_s`` for the thread.

    Args:
        app: The ASGI app.
        host: The address to bind.
        port: The port; 0 picks a free one.
        name: The thread's name, and what error messages call the server.
        startup_timeout_s: How long to wait for the server to listen.
        on_stop: Called when the server is asked to stop.

    Raises:
        RuntimeError: the server did not start within ``startup_timeout_s`` (the port is
            taken, say).
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        port: int = 0,
        name: str = "agentguard-server",
        startup_timeout_s: float = 10.0,
        on_stop: Callable[[], object] | None = None,
    ) -> None:
        self._on_stop = on_stop
        self._server = _server(app, host, port, log_config=False, on_stop=on_stop)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                raise RuntimeError(f"{name} did not start on {host}:{port}")
            time.sleep(0.005)
        sockname = self._server.servers[0].sockets[0].getsockname()
        self.host: str = host
        """The address served."""
        self.port: int = int(sockname[1])
        """The port served (the one picked when ``port=0`` was given)."""

    def _run(self) -> None:
        # uvicorn ends with sys.exit when it cannot start (a taken port): on this thread that
        # is only the end of the thread, which the constructor reports as RuntimeError.
        with contextlib.suppress(SystemExit):
            self._server.run()

    @property
    def url(self) -> str:
        """The base URL, like ``http://127.0.0.1:9464``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is still alive."""
        return self._thread.is_alive()

    def close(self, timeout_s: float = GRACE_S + 3.0) -> None:
        """Call ``on_stop``, stop serving, wait at most ``timeout_s`` for the thread."""
        if self._on_stop is not None:
            self._on_stop()
        self._server.should_exit = True
        self._thread.join(timeout_s)

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}{'' if self.running else ' (stopped)'}>"
