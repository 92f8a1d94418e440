"""Running the metrics app on uvicorn: in the foreground, or on a background thread.

The background thread is how an agent process serves its own memory store, and how tests and
benchmarks run a real server::

    with MetricsService(create_app(store), port=9464) as service:
        ...  # service.url + "/api/v1/snapshot"

The mechanics are :mod:`agentguard.serving`; this module adds what the metrics app needs: its
event streams end as soon as the server is asked to stop, so a stop never waits for a
dashboard to hang up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentguard.serving import BackgroundServer, ConnectionLimits
from agentguard.serving import serve as _serve
from agentguard_service.app import stop_streams

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "MetricsService", "serve"]

DEFAULT_HOST = "127.0.0.1"
"""The service binds loopback unless told otherwise."""

DEFAULT_PORT = 9464
"""The port of ``agentguard serve`` (Prometheus exporters' customary 9464)."""


def serve(
    app: Starlette,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    limits: ConnectionLimits | None = None,
) -> None:
    """Serve ``app`` until interrupted (Ctrl-C or SIGTERM), logging as uvicorn does.

    ``limits``: the connection limits (:class:`agentguard.serving.ConnectionLimits`'s defaults
    if None).
    """
    _serve(app, host=host, port=port, on_stop=lambda: stop_streams(app), limits=limits)


class MetricsService(BackgroundServer):
    """Serves an app of :func:`~agentguard_service.app.create_app` on a background thread.

    ``port=0`` picks a free port; read the one chosen from :attr:`port` or :attr:`url`. Use
    it as a context manager, or call :meth:`close`, which ends open event streams first and
    waits at most ``timeout_s`` for the thread. ``limits`` are the connection limits
    (:class:`agentguard.serving.ConnectionLimits`'s defaults if None).

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
        limits: ConnectionLimits | None = None,
    ) -> None:
        super().__init__(
            app,
            host=host,
            port=port,
            name="the metrics service",
            startup_timeout_s=startup_timeout_s,
            on_stop=lambda: stop_streams(app),
            limits=limits,
        )
