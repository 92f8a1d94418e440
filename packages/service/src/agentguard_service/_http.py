"""The mechanics of the HTTP app: handlers, errors, bearer auth and scopes, rate limit.

Each token scope gets its own view (an engine over a ``_scoped.ScopedStore``, a ``/metrics``
exposition, a stream hub), made once: a request reads through its token's view only.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import HTMLResponse, JSONResponse, Response

from agentguard import FailureEpisodes
from agentguard.ratelimit import RateLimiter
from agentguard_metrics.store import Store
from agentguard_service._exposition_text import StoreExposition
from agentguard_service._formats import to_json
from agentguard_service._static import PAGE_HEADERS, page_html
from agentguard_service._stream import Stopping, StreamHub
from agentguard_service._tokens import FULL_ACCESS, Forbidden, Token, check_agents, check_alerts
from agentguard_service.batch import MAX_BATCH_BODY_BYTES, parse_batch
from agentguard_service.params import GROUPS, InvalidParameter, QueryParams, parse_query
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


class TokenUser(BaseUser):
    """The user of a request that brought a known token: the token and its scopes."""

    def __init__(self, token: Token) -> None:
        self.token = token

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.token.name


def token_of(conn: HTTPConnection) -> Token:
    """The token a request came with; :data:`FULL_ACCESS` when the app checks none."""
    user = conn.scope.get("user")
    return user.token if isinstance(user, TokenUser) else FULL_ACCESS


class BearerBackend(AuthenticationBackend):
    """Every path but :data:`OPEN_PATHS`, ``/`` and ``/static/`` needs one of the tokens.

    The given token is compared with every token, each in constant time, without stopping
    at a match: the time taken says nothing about which token, or how much of one, matched.
    """

    def __init__(self, tokens: Sequence[Token]) -> None:
        self._tokens = [(token.secret.encode(), token) for token in tokens]

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        path = conn.url.path
        if path == "/" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return None
        scheme, _, given = conn.headers.get("authorization", "").partition(" ")
        presented = given.strip().encode("latin-1", "replace")
        found: Token | None = None
        for secret, token in self._tokens:
            if hmac.compare_digest(presented, secret):
                found = token
        if scheme.lower() != "bearer" or found is None:
            raise AuthenticationError("send Authorization: Bearer <a token the service has>")
        return AuthCredentials(["authenticated"]), TokenUser(found)


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


class BodyTooLarge(Exception):  # noqa: N818 (reads as what the request is)
    """A request body past its limit; the app answers 413 ``PAYLOAD_TOO_LARGE``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The body may be at most {limit} bytes")


DRAIN_BYTES = 1024 * 1024
"""A body past its limit is still read (and dropped) up to this size, so the client, still
sending, reads the 413; past it the connection is closed at once (the client may see a
reset instead)."""


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, kept only up to ``limit`` bytes: past it, :class:`BodyTooLarge`."""
    declared = request.headers.get("content-length", "")
    too_large = declared.isdigit() and int(declared) > limit
    if too_large and int(declared) > DRAIN_BYTES:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            too_large = too_large or size > limit
            if too_large and size > DRAIN_BYTES:
                break
            if not too_large:
                chunks.append(chunk)
    except ClientDisconnect:
        raise InvalidParameter(
            "body", "", (), "The client went away before the body ended"
        ) from None
    if too_large:
        raise BodyTooLarge(limit)
    return b"".join(chunks)


def _no_parameters(request: Request) -> None:
    for name, value in request.query_params.multi_items():
        raise InvalidParameter(name, value, (), f"Unknown parameter {name!r}: this takes none")


class View:
    """What one token scope reads: an engine, its ``/metrics`` exposition, its stream hub."""

    def __init__(
        self,
        engine: QueryEngine,
        episodes: FailureEpisodes,
        hub: Callable[[Callable[[], str]], StreamHub],
    ) -> None:
        self.engine = engine
        self.episodes = episodes
        self.exposition = StoreExposition(engine.store)
        self.hub = hub(self._event)

    def _event(self) -> str:
        """One event of the stream: the snapshot now, or the store's failure."""
        try:
            document = self.engine.snapshot()
        except StoreUnavailable as exc:
            self.episodes.failed(_STORE_KEY, f"the store failed: {exc}", exc.__cause__)
            body = {"error": "STORE_UNAVAILABLE", "message": "the metrics store failed"}
            return f"event: error\ndata: {json.dumps(body)}\n\n"
        _served(self.episodes)
        return f"event: snapshot\ndata: {to_json(document)}\n\n"


def _served(episodes: FailureEpisodes) -> None:
    """A store read succeeded: a failure episode, if any, is over."""
    if episodes.failing(_STORE_KEY):
        episodes.recovered(_STORE_KEY)


class Handlers:
    """The routes' handlers over one engine per token scope.

    Args:
        engine: The engine of the whole store (no token, or a token of every scope).
        stopping: Ends the streams.
        interval_s: Seconds between two stream events.
        max_streams_per_client: Streams one client address may hold open.
        scoped: An engine per scope of the tokens that may not read everything (keyed by
            the set of scopes), each over a :class:`ScopedStore`.
        health: What ``/healthz`` adds (the alert lease of this replica), or ``None``.
    """

    def __init__(
        self,
        engine: QueryEngine,
        stopping: Stopping,
        interval_s: float,
        max_streams_per_client: int,
        scoped: Mapping[frozenset[str], QueryEngine] | None = None,
        *,
        health: Callable[[], Mapping[str, object]] | None = None,
    ) -> None:
        self.health = health
        self.episodes = FailureEpisodes(logger)

        def hub(compute: Callable[[], str]) -> StreamHub:
            return StreamHub(
                compute,
                interval_s=interval_s,
                stopping=stopping,
                max_per_client=max_streams_per_client,
            )

        self.full = View(engine, self.episodes, hub)
        self.views = {s: View(e, self.episodes, hub) for s, e in (scoped or {}).items()}
        self.max_streams_per_client = max_streams_per_client

    def view(self, request: Request) -> View:
        """The view of the request's token: only what its scopes may read.

        Every handler reads through it (there is no engine of the whole store to reach
        for by mistake), and passes the agents a request names to :meth:`authorize`.
        """
        token = token_of(request)
        return self.full if token.full else self.views[frozenset(token.scopes)]

    def _served(self) -> None:
        _served(self.episodes)

    def metrics(self, request: Request) -> Response:
        accept = request.headers.get("accept", "")
        body, content_type = self.view(request).exposition.render(accept)
        self._served()
        return Response(body, headers={"Content-Type": content_type})

    def snapshot(self, request: Request) -> Response:
        _no_parameters(request)
        document = self.view(request).engine.snapshot()
        self._served()
        return Response(to_json(document), media_type="application/json")

    def authorize(
        self, request: Request, params: QueryParams, agents: tuple[str, ...] | None
    ) -> QueryParams:
        """Where a token's scope meets what a request reads; ``params`` as it may read them.

        Called once per request before any read: by the query with ``QueryParams.agents``,
        by the batch with ``BatchQuery.agents`` (every item's). An agent outside the scope
        is a 403 (``None``, every agent, reads the token's agents: its view holds no
        other); so is ``metrics=`` naming ``alerts`` without the alerts scope, while every
        group (the default) leaves the alerts out.
        """
        token = token_of(request)
        check_agents(token, agents or ())
        if "alerts" not in params.groups or token.alerts:
            return params
        if params.groups != GROUPS:
            check_alerts(token)
        return dataclasses.replace(params, groups=tuple(g for g in params.groups if g != "alerts"))

    def query(self, request: Request) -> Response:
        params = parse_query(request.query_params.multi_items())
        params = self.authorize(request, params, params.agents)
        text, media_type = self.view(request).engine.render(params)
        self._served()
        return Response(text, headers={"Content-Type": media_type})

    async def batch(self, request: Request) -> Response:
        _no_parameters(request)
        body = await _read_body(request, MAX_BATCH_BODY_BYTES)
        query = parse_batch(body)
        query = dataclasses.replace(
            query, params=self.authorize(request, query.params, query.agents)
        )
        document = await run_in_threadpool(self.view(request).engine.batch, query)
        self._served()
        return Response(to_json(document), media_type="application/json")

    async def stream(self, request: Request) -> Response:
        _no_parameters(request)
        hub = self.view(request).hub
        response = hub.open(request.client.host if request.client else "unknown")
        if response is None:
            return error(
                429,
                "TOO_MANY_STREAMS",
                f"This client has {self.max_streams_per_client} streams open, the most allowed; "
                "close one (every stream carries the same events)",
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        return response

    async def healthz(self, request: Request) -> Response:
        more = {} if self.health is None else self.health()
        return JSONResponse({"status": "ok", **more})

    async def page(self, request: Request) -> Response:
        return HTMLResponse(await run_in_threadpool(page_html), headers=PAGE_HEADERS)

    async def invalid(self, request: Request, exc: Exception) -> Response:
        invalid = cast("InvalidParameter", exc)
        return JSONResponse(invalid.body(), 400)

    async def forbidden(self, request: Request, exc: Exception) -> Response:
        return JSONResponse(cast("Forbidden", exc).body(), 403)

    async def too_large(self, request: Request, exc: Exception) -> Response:
        return error(413, "PAYLOAD_TOO_LARGE", str(exc))

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
