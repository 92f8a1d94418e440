"""The mechanics of the HTTP app: handlers, errors, bearer auth, rate limit."""

from __future__ import annotations

import hmac
import json
import logging
import math
from typing import TYPE_CHECKING, Any, cast

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
    SimpleUser,
)
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, JSONResponse, Response

from agentguard import FailureEpisodes
from agentguard.ratelimit import RateLimiter
from agentguard_metrics.store import Store
from agentguard_service._formats import to_json
from agentguard_service._static import PAGE_HEADERS, page_html
from agentguard_service._stream import Stopping, StreamHub
from agentguard_service.exposition import StoreCollector
from agentguard_service.params import InvalidParameter, parse_query
from agentguard_service.query import QueryEngine

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from starlette.exceptions import HTTPException
    from starlette.requests import HTTPConnection, Request
    from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("agentguard_service")

OPEN_PATHS = ("/healthz",)
"""Paths served without a token: they carry no data."""
OPEN_PREFIXES = ("/static/",)
UNLIMITED_PATHS = ("/healthz", "/")
"""Paths never rate limited (with :data:`OPEN_PREFIXES`): constant, cheap answers, and a
page reloaded a few times must not lose its stylesheet to a 429."""
RETRY_AFTER_S = 5
_STORE_KEY = "agentguard_service: store reads"


def error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **more: object
) -> JSONResponse:
    """A JSON error body ``{"error": code, "message": message, ...}``."""
    return JSONResponse({"error": code, "message": message, **more}, status, headers=headers)


class StoreUnavailable(Exception):  # noqa: N818 (reads as the state of the store)
    """A store read failed (Redis down, say); the app answers 503."""


class GuardedStore:
    """Forwards every call to a store, turning its exceptions into :class:`StoreUnavailable`.

    So a failing store answers 503, and a bug of ours stays a bug (a logged 500).
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                raise StoreUnavailable(f"{type(exc).__name__} from {name}") from exc

        return call


class BearerBackend(AuthenticationBackend):
    """Every path but :data:`OPEN_PATHS`, ``/`` and ``/static/`` needs the bearer token."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        path = conn.url.path
        if path == "/" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return None
        scheme, _, given = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self._token
        ):
            raise AuthenticationError("send Authorization: Bearer <the token the service has>")
        return AuthCredentials(["authenticated"]), SimpleUser("bearer")


def unauthenticated(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    """The 401 answer."""
    return error(
        401, "UNAUTHENTICATED", str(exc), {"WWW-Authenticate": 'Bearer realm="agentguard"'}
    )


class RateLimit:
    """ASGI middleware: at most the limiter's rate per client address, else 429."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in UNLIMITED_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait_s = self.limiter.acquire(client[0] if client else "unknown")
        if wait_s <= 0:
            await self.app(scope, receive, send)
            return
        retry = max(1, math.ceil(wait_s))
        response = error(
            429,
            "RATE_LIMIT_EXCEEDED",
            "Too many requests from this client",
            {"Retry-After": str(retry)},
            details={
                "limit": self.limiter.rate_per_s,
                "window": "1s",
                "retryAfter": retry,
                "suggestion": "Poll less often, or use /api/v1/stream for live figures",
            },
        )
        await response(scope, receive, send)


def _no_parameters(request: Request) -> None:
    for name, value in request.query_params.multi_items():
        raise InvalidParameter(name, value, (), f"Unknown parameter {name!r}: this takes none")


class Handlers:
    """The routes' handlers over one engine and one collector registry."""

    def __init__(
        self,
        engine: QueryEngine,
        stopping: Stopping,
        interval_s: float,
        max_streams_per_client: int,
        health: Callable[[], Mapping[str, object]] | None = None,
    ) -> None:
        self.engine = engine
        self.health = health
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(engine.store))
        self.episodes = FailureEpisodes(logger)
        self.hub = StreamHub(
            self._event,
            interval_s=interval_s,
            stopping=stopping,
            max_per_client=max_streams_per_client,
        )
        self.max_streams_per_client = max_streams_per_client

    def _served(self) -> None:
        if self.episodes.failing(_STORE_KEY):
            self.episodes.recovered(_STORE_KEY)

    def metrics(self, request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        body = encoder(self.registry)
        self._served()
        return Response(body, headers={"Content-Type": content_type})

    def snapshot(self, request: Request) -> Response:
        _no_parameters(request)
        document = self.engine.snapshot()
        self._served()
        return Response(to_json(document), media_type="application/json")

    def query(self, request: Request) -> Response:
        params = parse_query(request.query_params.multi_items())
        text, media_type = self.engine.render(params)
        self._served()
        return Response(text, headers={"Content-Type": media_type})

    async def stream(self, request: Request) -> Response:
        _no_parameters(request)
        response = self.hub.open(request.client.host if request.client else "unknown")
        if response is None:
            return error(
                429,
                "TOO_MANY_STREAMS",
                f"This client has {self.max_streams_per_client} streams open, the most allowed; "
                "close one (every stream carries the same events)",
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        return response

    def _event(self) -> str:
        """One event of the stream: the snapshot now, or the store's failure."""
        try:
            document = self.engine.snapshot()
        except StoreUnavailable as exc:
            self.episodes.failed(_STORE_KEY, f"the store failed: {exc}", exc.__cause__)
            body = {"error": "STORE_UNAVAILABLE", "message": "the metrics store failed"}
            return f"event: error\ndata: {json.dumps(body)}\n\n"
        self._served()
        return f"event: snapshot\ndata: {to_json(document)}\n\n"

    async def healthz(self, request: Request) -> Response:
        more = {} if self.health is None else self.health()
        return JSONResponse({"status": "ok", **more})

    async def page(self, request: Request) -> Response:
        return HTMLResponse(await run_in_threadpool(page_html), headers=PAGE_HEADERS)

    async def invalid(self, request: Request, exc: Exception) -> Response:
        invalid = cast("InvalidParameter", exc)
        return JSONResponse(invalid.body(), 400)

    async def unavailable(self, request: Request, exc: Exception) -> Response:
        self.episodes.failed(_STORE_KEY, f"the store failed: {exc}", exc.__cause__)
        return error(
            503,
            "STORE_UNAVAILABLE",
            "The metrics store cannot be read right now; retry later",
            {"Retry-After": str(RETRY_AFTER_S)},
        )

    async def http_error(self, request: Request, exc: Exception) -> Response:
        http = cast("HTTPException", exc)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(http.status_code, "BAD_REQUEST")
        return error(http.status_code, code, str(http.detail), dict(http.headers or {}))

    async def crashed(self, request: Request, exc: Exception) -> Response:
        logger.error("agentguard_service: %s failed", request.url.path, exc_info=exc)
        return error(500, "INTERNAL_ERROR", "The service failed to answer; see its log")
