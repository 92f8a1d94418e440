"""The request handlers behind :func:`agentguard_receiver.create_app`."""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from agentguard.episodes import FailureEpisodes
from agentguard.ratelimit import RateLimiter
from agentguard.serving import ascii_int, ascii_number
from agentguard_receiver._anthropic import (
    KNOWN_EVENTS,
    AnthropicEvent,
    alertmanager_body,
    alerts_for,
    parse_event,
)
from agentguard_receiver._auth import Authenticator, Rejected, SignedHeaders
from agentguard_receiver._page import render_page
from agentguard_receiver._payload import MalformedPayload, Notification, parse_notification
from agentguard_receiver._store import AlertStore
from agentguard_receiver.handlers import Dispatcher, Received

__all__ = ["Endpoints"]

_MAX_LIST = 1_000
_STATUSES = ("firing", "resolved")

logger = logging.getLogger("agentguard_receiver")


def _error(
    status: int, error: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


def _check_content_type(request: Request) -> None:
    media_type, *params = request.headers.get("content-type", "").split(";")
    if media_type.strip().lower() != "application/json":
        raise Rejected(415, "UNSUPPORTED_MEDIA_TYPE", "the body must be sent as application/json")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise Rejected(415, "UNSUPPORTED_MEDIA_TYPE", "the body must be UTF-8")


async def _read_body(request: Request, limit: int) -> bytes:
    too_large = Rejected(413, "PAYLOAD_TOO_LARGE", f"the body may be at most {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = ascii_int(declared)
        except ValueError:
            raise Rejected(400, "MALFORMED_HEADERS", "Content-Length must be a number") from None
        if length > limit:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect:
        raise Rejected(
            400, "CLIENT_DISCONNECTED", "the client went away before the body ended"
        ) from None
    return b"".join(chunks)


def _since(raw: str | None) -> float | None:
    """Unix seconds (ASCII ``digits[.digits]``) or an ISO 8601 time (UTC unless it says)."""
    if raw is None or raw == "":
        return None
    try:
        return ascii_number(raw)
    except ValueError:
        pass
    if not raw.isascii():
        raise ValueError(raw)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(raw) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _window(params: Mapping[str, str]) -> tuple[float | None, int] | Response:
    """``since`` and ``limit`` of a list request, or the 400 answering bad ones."""
    try:
        since_s = _since(params.get("since"))
    except ValueError:
        return _invalid(
            "since", params.get("since", ""), "unix seconds (digits 0-9) or an ISO 8601 time"
        )
    raw_limit = params.get("limit", "100")
    try:
        limit = ascii_int(raw_limit)
    except ValueError:
        limit = 0
    if not 1 <= limit <= _MAX_LIST:
        return _invalid("limit", raw_limit, f"1 to {_MAX_LIST} (digits 0-9)")
    return since_s, limit


def _invalid(parameter: str, value: str, allowed: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": "INVALID_PARAMETERS",
            "message": f"bad value for {parameter!r}",
            "details": {"parameter": parameter, "value": value, "allowedValues": allowed},
        },
        status_code=400,
    )


class Endpoints:
    """The handlers, over the state they share; every bad request answers a JSON 4xx."""

    def __init__(
        self,
        *,
        authenticator: Authenticator,
        anthropic_authenticator: Authenticator,
        limiter: RateLimiter | None,
        store: AlertStore,
        dispatcher: Dispatcher,
        max_body_bytes: int,
        clock: Callable[[], float],
    ) -> None:
        self._authenticator = authenticator
        self._anthropic_authenticator = anthropic_authenticator
        self._unknown_anthropic_types: set[str] = set()
        self._dispatcher = dispatcher
        self._limiter = limiter
        self._store = store
        self._max_body_bytes = max_body_bytes
        self._clock = clock
        self._episodes = FailureEpisodes(logger)

    def _check_rate(self, request: Request) -> None:
        if self._limiter is None:
            return
        wait_s = self._limiter.acquire(request.client.host if request.client else "unknown")
        if wait_s > 0:
            raise Rejected(
                429,
                "RATE_LIMITED",
                "too many requests from this client",
                {"Retry-After": str(max(1, math.ceil(wait_s)))},
            )

    async def _authenticated_body(
        self, request: Request, authenticator: Authenticator
    ) -> tuple[SignedHeaders | None, bytes, float]:
        """The checks every webhook passes, cheapest first; the body once it is verified.

        Raises:
            Rejected: the request is refused (429, 400, 401, 413, 415).
        """
        self._check_rate(request)
        now_s = self._clock()
        signed = authenticator.check_headers(request.headers, now_s)
        _check_content_type(request)
        body = await _read_body(request, self._max_body_bytes)
        if signed is not None:
            authenticator.verify_body(signed, body)
        return signed, body, now_s

    def _store_failed(self, exc: sqlite3.Error, what: str) -> Response:
        self._episodes.failed("alert store", f"could not store {what}: {type(exc).__name__}", exc)
        return _error(
            503, "STORAGE_UNAVAILABLE", "the alert store failed; retry later", {"Retry-After": "5"}
        )

    async def receive_alerts(self, request: Request) -> Response:
        try:
            signed, body, now_s = await self._authenticated_body(request, self._authenticator)
            notification = parse_notification(body)
        except Rejected as rejected:
            logger.info("rejected a webhook: %s %s", rejected.status, rejected.error)
            return _error(rejected.status, rejected.error, rejected.message, rejected.headers)
        except MalformedPayload as exc:
            logger.info("rejected a webhook: 400 INVALID_PAYLOAD")
            return _error(400, "INVALID_PAYLOAD", str(exc))
        webhook_id = signed.msg_id if signed is not None else None
        try:
            stored = await self._store.record(webhook_id, notification, now_s)
        except sqlite3.Error as exc:
            return self._store_failed(exc, "a notification")
        self._episodes.recovered("alert store")
        if not stored:
            logger.info("replayed webhook %s ignored", webhook_id)
            return JSONResponse({"stored": 0, "duplicate": True})
        logger.info(
            "stored %d alert(s) of group %r (%s) from webhook %s",
            len(notification.alerts),
            notification.group_key,
            notification.status,
            webhook_id or "with a bearer token",
        )
        self._dispatcher.submit(
            Received(
                notification=notification,
                webhook_id=webhook_id,
                received_at_unix_s=now_s,
                body=body,
            )
        )
        return JSONResponse({"stored": len(notification.alerts), "duplicate": False})

    async def receive_anthropic(self, request: Request) -> Response:
        try:
            signed, body, now_s = await self._authenticated_body(
                request, self._anthropic_authenticator
            )
            event = parse_event(body)
        except Rejected as rejected:
            logger.info("rejected an Anthropic webhook: %s %s", rejected.status, rejected.error)
            return _error(rejected.status, rejected.error, rejected.message, rejected.headers)
        except MalformedPayload as exc:
            logger.info("rejected an Anthropic webhook: 400 INVALID_PAYLOAD")
            return _error(400, "INVALID_PAYLOAD", str(exc))
        # The Anthropic authenticator has no bearer token: only a signature gets this far.
        assert signed is not None
        notification = alerts_for(event)
        try:
            stored = await self._store.record_anthropic(signed.msg_id, event, notification, now_s)
        except sqlite3.Error as exc:
            return self._store_failed(exc, "an Anthropic event")
        self._episodes.recovered("alert store")
        if not stored:
            logger.info("replayed Anthropic webhook %s ignored", signed.msg_id)
            return JSONResponse({"stored": 0, "alerts": 0, "duplicate": True})
        self._note_type(event)
        if notification is not None:
            logger.info(
                "Anthropic %s %s became %s %s",
                event.type,
                event.resource_id,
                notification.status,
                notification.alerts[0].labels["alertname"],
            )
            self._submit(notification, signed.msg_id, now_s, event)
        return JSONResponse(
            {"stored": 1, "alerts": 0 if notification is None else 1, "duplicate": False}
        )

    def _note_type(self, event: AnthropicEvent) -> None:
        if event.type in KNOWN_EVENTS or event.type in self._unknown_anthropic_types:
            return
        if len(self._unknown_anthropic_types) < 1_000:
            self._unknown_anthropic_types.add(event.type)
        logger.warning(
            "an Anthropic event type this receiver does not know: %r (stored, not an alert; "
            "counted in GET /api/v1/anthropic/events)",
            event.type,
        )

    def _submit(
        self, notification: Notification, webhook_id: str, now_s: float, event: AnthropicEvent
    ) -> None:
        self._dispatcher.submit(
            Received(
                notification=notification,
                webhook_id=webhook_id,
                received_at_unix_s=now_s,
                body=alertmanager_body(notification),
                anthropic_event=event,
            )
        )

    async def list_anthropic_events(self, request: Request) -> Response:
        params = request.query_params
        event_type = params.get("type") or None
        window = _window(params)
        if isinstance(window, Response):
            return window
        since_s, limit = window
        try:
            events, counts = await self._store.query_anthropic(
                event_type=event_type, since_s=since_s, limit=limit
            )
        except sqlite3.Error as exc:
            self._episodes.failed(
                "alert store", f"could not read Anthropic events: {type(exc).__name__}", exc
            )
            return _error(503, "STORAGE_UNAVAILABLE", "the alert store failed; retry later")
        unknown = {kind: count for kind, count in counts.items() if kind not in KNOWN_EVENTS}
        return JSONResponse({"events": events, "counts": counts, "unknown": unknown})

    async def list_alerts(self, request: Request) -> Response:
        params = request.query_params
        status = params.get("status") or None
        if status is not None and status not in _STATUSES:
            return _invalid("status", status, "firing, resolved")
        window = _window(params)
        if isinstance(window, Response):
            return window
        since_s, limit = window
        try:
            alerts = await self._store.query(status=status, since_s=since_s, limit=limit)
        except sqlite3.Error as exc:
            self._episodes.failed(
                "alert store", f"could not read alerts: {type(exc).__name__}", exc
            )
            return _error(503, "STORAGE_UNAVAILABLE", "the alert store failed; retry later")
        return JSONResponse({"alerts": alerts})

    async def page(self, request: Request) -> Response:
        try:
            alerts = await self._store.query(status=None, since_s=None, limit=200)
        except sqlite3.Error as exc:
            self._episodes.failed(
                "alert store", f"could not read alerts: {type(exc).__name__}", exc
            )
            return HTMLResponse("<p>the alert store failed; retry later</p>", status_code=503)
        return HTMLResponse(render_page(alerts))

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "BAD_REQUEST")
        return _error(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))
