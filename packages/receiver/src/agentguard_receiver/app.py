"""The receiver's ASGI application: the two webhook paths and the read endpoints.

Every answer to a bad request is a 4xx with ``{"error": CODE, "message": text}``; the
request is checked in the order that costs least first: rate limit, authentication headers
(and bearer token), content type, size while reading, signature, then shape.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route

from agentguard.ratelimit import RateLimiter
from agentguard_receiver._auth import Authenticator, decode_secret
from agentguard_receiver._endpoints import Endpoints
from agentguard_receiver._store import AlertStore
from agentguard_receiver.handlers import Dispatcher, Handler

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_RATE_LIMIT_PER_S", "create_app"]

DEFAULT_MAX_BODY_BYTES = 64 * 1024
"""The largest body ``POST /webhooks/alerts`` reads (64 KiB); larger ones answer 413.

Alertmanager's bodies for a group of a few dozen alerts fit easily; raise it for larger groups
(``max_body_bytes``, ``--max-body-bytes``)."""

DEFAULT_RATE_LIMIT_PER_S = 50.0
"""Webhook posts a second allowed per client address (bursts of twice as many)."""

KEEP_DELIVERY_IDS_S = 3 * 24 * 3600.0
"""How long a ``webhook-id`` is remembered: longer than a sender retries one notification
(ours gives up after 15 minutes; Standard Webhooks senders retry for a day or more), since a
retry is signed anew with a fresh timestamp and only its id says it was stored already."""


def create_app(
    *,
    secrets: Sequence[str],
    token: str | None = None,
    anthropic_secrets: Sequence[str] = (),
    db_path: str | Path | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    rate_limit_per_s: float | None = DEFAULT_RATE_LIMIT_PER_S,
    rate_limit_burst: float | None = None,
    handlers: Sequence[Handler] = (),
    handler_queue_size: int = 1000,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """Build the receiver's ASGI app (serve it with :class:`Receiver` or :func:`serve`).

    Args:
        secrets: Standard Webhooks secrets (``whsec_<base64>``); a signature made with any of
            them is accepted, so a new secret can be rolled out before the old one is dropped.
        token: A bearer token for senders that cannot sign (Alertmanager); ``None`` refuses
            bearer requests.
        anthropic_secrets: The signing keys (``whsec_...``) of Anthropic platform webhooks
            posted to ``/webhooks/anthropic``; kept apart from ``secrets``, so neither key
            authenticates the other path. None: that path answers 401.
        db_path: The SQLite file that keeps alerts and delivery ids across restarts; ``None``
            keeps them in memory.
        max_body_bytes: The largest body read; larger ones answer 413 as soon as the limit is
            passed, whatever ``Content-Length`` claims.
        rate_limit_per_s: Webhook posts a second per client address, or ``None`` for no limit.
        rate_limit_burst: The burst allowed per client; twice the rate (at least 1) by default.
        handlers: Called with each stored notification (a ``handlers.Received``) after it
            was acknowledged, on a thread of their own; replays do not call them.
            Handlers with a ``close()`` are closed when the app shuts down.
        handler_queue_size: Notifications waiting for the handlers before new ones skip them.
        clock: Wall-clock seconds since the epoch, for timestamp tolerance and rate limits.

    Raises:
        ValueError: no secret and no token, a secret that is not base64, or bad limits.
    """
    for name, given in (("secrets", secrets), ("anthropic_secrets", anthropic_secrets)):
        if isinstance(given, str):
            raise TypeError(
                f"{name} must be a sequence of secrets, not one str: use {name}=[secret]"
            )
    keys = [decode_secret(secret) for secret in secrets]
    anthropic_keys = [decode_secret(secret) for secret in anthropic_secrets]
    if not keys and not token and not anthropic_keys:
        raise ValueError(
            "give at least one webhook secret, a bearer token or an Anthropic signing key, "
            "or nobody can post"
        )
    if token is not None and not token:
        raise ValueError("token may not be empty; pass None for no bearer token")
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be >= 1, got {max_body_bytes!r}")
    limiter = (
        None
        if rate_limit_per_s is None
        else RateLimiter(
            rate_limit_per_s,
            rate_limit_burst if rate_limit_burst is not None else max(1.0, 2 * rate_limit_per_s),
            clock,
        )
    )
    dispatcher = Dispatcher(handlers, queue_size=handler_queue_size)
    store = AlertStore(db_path, keep_ids_s=KEEP_DELIVERY_IDS_S)

    endpoints = Endpoints(
        authenticator=Authenticator(keys, token),
        anthropic_authenticator=Authenticator(anthropic_keys, None, what="Anthropic webhooks"),
        limiter=limiter,
        store=store,
        dispatcher=dispatcher,
        max_body_bytes=max_body_bytes,
        clock=clock,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            dispatcher.close()
            store.close()

    return Starlette(
        routes=[
            Route("/webhooks/alerts", endpoints.receive_alerts, methods=["POST"]),
            Route("/webhooks/anthropic", endpoints.receive_anthropic, methods=["POST"]),
            Route("/api/v1/alerts", endpoints.list_alerts, methods=["GET"]),
            Route("/api/v1/anthropic/events", endpoints.list_anthropic_events, methods=["GET"]),
            Route("/", endpoints.page, methods=["GET"]),
            Route("/healthz", endpoints.healthz, methods=["GET"]),
        ],
        exception_handlers={HTTPException: endpoints.http_error},
        lifespan=lifespan,
    )
