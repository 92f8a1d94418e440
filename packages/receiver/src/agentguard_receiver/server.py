"""Running the receiver on uvicorn: in the foreground, or on a background thread.

The mechanics are the core's :mod:`agentguard.serving`, shared with the metrics service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentguard.serving import BackgroundServer, ConnectionLimits
from agentguard.serving import serve as _serve

if TYPE_CHECKING:
    from starlette.types import ASGIApp

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Receiver", "serve"]

DEFAULT_HOST = "127.0.0.1"
"""The receiver binds loopback unless told otherwise."""

DEFAULT_PORT = 9465
"""The port of ``agentguard receive``."""


def serve(
    app: ASGIApp,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    limits: ConnectionLimits | None = None,
) -> None:
    """Serve ``app`` until interrupted (Ctrl-C or SIGTERM), logging as uvicorn does.

    ``limits``: the connection limits (:class:`agentguard.serving.ConnectionLimits`'s defaults
    if None).
    """
    _serve(app, host=host, port=port, limits=limits)


class Receiver(BackgroundServer):
    """Serves an app on a background thread; for tests, benchmarks and the demo.

    ``port=0`` picks a free port; read the one chosen from :attr:`port` or :attr:`url`.
    Use it as a context manager, or call :meth:`close` (which waits for the thread, and so
    for the alert store, to finish). ``limits`` are the connection limits
    (:class:`agentguard.serving.ConnectionLimits`'s defaults if None).

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
        limits: ConnectionLimits | None = None,
    ) -> None:
        super().__init__(
            app,
            host=host,
            port=port,
            name="the receiver",
            startup_timeout_s=startup_timeout_s,
            limits=limits,
        )
