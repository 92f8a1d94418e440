"""The metrics service's ASGI app (starlette): Prometheus, the JSON APIs, the page.

Routes: ``GET /metrics`` (:class:`~agentguard_service.exposition.StoreCollector`; OpenMetrics
when ``Accept`` asks), ``/api/v1/snapshot``, ``/api/v1/metrics``
(:mod:`agentguard_service.params`), ``POST /api/v1/metrics/batch``
(:mod:`agentguard_service.batch`), ``GET /api/v1/stream`` (server-sent events, one snapshot per
tick shared by every stream), ``/healthz``, ``/`` and ``/static/...``
(:mod:`agentguard_service._static`). Every error is JSON ``{"error": CODE, "message": ...}``;
the codes are in packages/service/README.md.

Tokens (``token=``, ``tokens=``) carry scopes (:mod:`agentguard_service._tokens`): a token
reads through a view of the store narrowed to its agents (``_scoped.ScopedStore``), and a
request naming an agent or the alerts outside its scopes answers 403.

The trap: requests are checked in this order: rate limit, token, route, parameters, scope.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Mount, Route

from agentguard.ratelimit import RateLimiter
from agentguard_metrics.store import Store
from agentguard_service._http import (
    BearerBackend,
    BodyTooLarge,
    GuardedStore,
    Handlers,
    RateLimit,
    StoreUnavailable,
    unauthenticated,
)
from agentguard_service._scoped import ScopedStore
from agentguard_service._static import PageFiles
from agentguard_service._stream import Stopping
from agentguard_service._tokens import Forbidden, Token, check_tokens
from agentguard_service.params import InvalidParameter
from agentguard_service.query import QueryEngine

__all__ = [
    "DEFAULT_MAX_STREAMS_PER_CLIENT",
    "DEFAULT_RATE_LIMIT_PER_S",
    "create_app",
    "stop_streams",
]

DEFAULT_RATE_LIMIT_PER_S = 10.0
"""Requests a second allowed per client address (bursts of twice as many)."""

DEFAULT_MAX_STREAMS_PER_CLIENT = 8
"""``/api/v1/stream`` responses one client address may hold open at once (a few dashboard
tabs and an ``agentguard top``; every stream carries the same events)."""


def create_app(
    store: Store,
    *,
    token: str | None = None,
    tokens: Sequence[Token] = (),
    budget_usd_per_month: float | None = None,
    rate_limit_per_s: float | None = DEFAULT_RATE_LIMIT_PER_S,
    rate_limit_burst: float | None = None,
    stream_interval_s: float = 1.0,
    max_streams_per_client: int = DEFAULT_MAX_STREAMS_PER_CLIENT,
    clock: Callable[[], float] = time.time,
    health: Callable[[], Mapping[str, object]] | None = None,
) -> Starlette:
    """Build the metrics service's app over ``store`` (serve it with ``MetricsService``).

    Args:
        store: The store to read (the memory store in process, the Redis store shared).
        token: A bearer token every route but ``/healthz``, ``/`` and ``/static/`` needs
            (those carry no data), that may read everything; ``None`` for none. Compared
            in constant time, never logged.
        tokens: More tokens, each with its scopes (``load_tokens`` reads them from a
            file); with ``token``, any of them is accepted.
        budget_usd_per_month: The monthly budget the ``costs`` group compares spending with.
        rate_limit_per_s: Requests a second per client address (``/healthz`` aside), or
            ``None`` for no limit.
        rate_limit_burst: The burst allowed per client; twice the rate (at least 1) by default.
        stream_interval_s: Seconds between two events of ``/api/v1/stream``.
        max_streams_per_client: Streams one client address may hold open; one more answers
            429 ``TOO_MANY_STREAMS``.
        clock: Unix time now: the end of every query window, uptime and rate limits.
        health: What ``/healthz`` says besides ``"status": "ok"`` (``serve``: the alert
            lease); called on every request, so it must be cheap and do no I/O.

    Raises:
        TypeError: ``store`` does not follow the ``Store`` protocol.
        ValueError: an empty token, two tokens alike (or alike named), or a limit, budget
            or interval that is not positive.
    """
    if not isinstance(store, Store):
        raise TypeError(f"store must follow agentguard_metrics.Store, got {store!r}")
    if token is not None and not token:
        raise ValueError("token may not be empty; pass None for no token")
    if isinstance(tokens, (str, Token)):
        raise TypeError("tokens must be a sequence of agentguard_service.Token")
    every = check_tokens([*([] if token is None else [Token(name="token", secret=token)]), *tokens])
    if not stream_interval_s > 0:
        raise ValueError(f"stream_interval_s must be > 0, got {stream_interval_s!r}")
    if isinstance(max_streams_per_client, bool) or not isinstance(max_streams_per_client, int):
        raise TypeError(f"max_streams_per_client must be an int, got {max_streams_per_client!r}")
    if max_streams_per_client < 1:
        raise ValueError(f"max_streams_per_client must be >= 1, got {max_streams_per_client!r}")
    middleware: list[Middleware] = []
    if rate_limit_per_s is not None:
        burst = rate_limit_burst if rate_limit_burst is not None else max(1.0, 2 * rate_limit_per_s)
        middleware.append(
            Middleware(RateLimit, limiter=RateLimiter(rate_limit_per_s, burst, clock))
        )
    if every:
        middleware.append(
            Middleware(
                AuthenticationMiddleware, backend=BearerBackend(every), on_error=unauthenticated
            )
        )
    guarded = cast("Store", GuardedStore(store))

    def engine_over(read: Store) -> QueryEngine:
        return QueryEngine(read, clock=clock, budget_usd_per_month=budget_usd_per_month)

    scoped = {
        frozenset(t.scopes): engine_over(ScopedStore(guarded, t)) for t in every if not t.full
    }
    stopping = Stopping()
    handlers = Handlers(
        engine_over(guarded),
        stopping,
        stream_interval_s,
        max_streams_per_client,
        scoped,
        health=health,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            stopping.stop()

    app = Starlette(
        routes=[
            Route("/metrics", handlers.metrics, methods=["GET"]),
            Route("/api/v1/snapshot", handlers.snapshot, methods=["GET"]),
            Route("/api/v1/metrics", handlers.query, methods=["GET"]),
            Route("/api/v1/metrics/batch", handlers.batch, methods=["POST"]),
            Route("/api/v1/stream", handlers.stream, methods=["GET"]),
            Route("/healthz", handlers.healthz, methods=["GET"]),
            Route("/", handlers.page, methods=["GET"]),
            Mount("/static", PageFiles()),
        ],
        middleware=middleware,
        exception_handlers={
            InvalidParameter: handlers.invalid,
            Forbidden: handlers.forbidden,
            BodyTooLarge: handlers.too_large,
            StoreUnavailable: handlers.unavailable,
            HTTPException: handlers.http_error,
            Exception: handlers.crashed,
        },
        lifespan=lifespan,
    )
    app.state.agentguard_stop_streams = stopping.stop
    return app


def stop_streams(app: Starlette) -> None:
    """End the open ``/api/v1/stream`` responses of an app made by :func:`create_app`.

    Call it before stopping the server: uvicorn waits for open responses, and an event
    stream never ends by itself. ``MetricsService.close`` and ``serve`` call it.
    """
    stop = getattr(app.state, "agentguard_stop_streams", None)
    if stop is not None:
        stop()
