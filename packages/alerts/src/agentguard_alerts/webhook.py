"""``WebhookSender``: signed webhook delivery off the caller's thread, with bounded retries.

::

    sender = WebhookSender("https://alerts.example.com/webhooks/alerts", secrets=["whsec_..."])
    sender.notify(notification)  # never blocks: queued for the sender's thread
    sender.flush(timeout_s=2.0)  # True once everything queued was delivered or given up
    sender.close()

One body and one ``webhook-id`` per notification (:attr:`Notification.id`, derived from its
content, so replicas agree), signed afresh per attempt; with a ``fence``, an attempt is made
only while the notification's lease token is valid, and carries it in the
``agentguard-fencing-token`` header; backoff with full jitter, ``Retry-After``, 410
disables, redirects never followed, ``max_attempts`` and ``max_horizon_s``
(packages/alerts/README.md, "Delivery"). What is given up or turned away is counted
(:attr:`~WebhookSender.failed`, :attr:`~WebhookSender.dropped`) and logged; logs name the
target as ``scheme://host:port`` only, never a path, secret or signature.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import logging
import math
import queue
import random as random_module
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final, Literal

import httpx2
from standardwebhooks import Webhook

from agentguard import FailureEpisodes
from agentguard_alerts.errors import TargetRefused
from agentguard_alerts.notification import Notification, alertmanager_body, slack_body
from agentguard_alerts.targets import PinnedTransport, Resolver, TargetPolicy, redact_url

__all__ = ["RETRYABLE_STATUSES", "WebhookSender", "retry_after_s"]

RETRYABLE_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Answers tried again (besides other 5xx); other 4xx are given up at once."""

_logger = logging.getLogger("agentguard_alerts")
_SECRET_PREFIX: Final = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)
_USER_AGENT: Final = "agentguard-alerts/0.1"


@dataclass(frozen=True, slots=True)
class _Item:
    body: bytes
    msg_id: str
    what: str
    token: int | None = None


def _webhook(secret: str, index: int) -> Webhook:
    if not isinstance(secret, str):
        raise TypeError(f"secrets[{index}] must be a str like 'whsec_<base64>'")
    raw = secret.removeprefix(_SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"secrets[{index}] must be 'whsec_' followed by base64 (the secret is not shown)"
        ) from None
    if not key:
        raise ValueError(f"secrets[{index}] is empty")
    return Webhook(key)


def retry_after_s(value: str | None, now_unix_s: float) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return max(0.0, moment.timestamp() - now_unix_s)
    return max(0.0, seconds) if math.isfinite(seconds) else None


class WebhookSender:
    """Delivers notifications to one URL, signed, from a thread of its own.

    Args:
        url: The target, ``https://`` unless ``allow_http``.
        secrets: Standard Webhooks secrets (``whsec_<base64>``); every attempt carries one
            signature per secret. Required for the Alertmanager format; optional for Slack.
        format: ``"alertmanager"`` (v4 bodies, DESIGN.md section 5) or ``"slack"``.
        allow_http: Allow a plain-http target.
        allow_private: Allow loopback, private and link-local targets.
        allow_networks: CIDR ranges allowed although not public.
        timeout_s: Connect, write and read timeout of one attempt.
        max_attempts: Attempts per notification, the first included.
        max_horizon_s: The most time spent on one notification, from its first attempt.
        base_delay_s: The backoff before the second attempt (at most; jitter draws below).
        max_delay_s: The most the backoff grows to (``Retry-After`` may ask for more).
        queue_size: Notifications held while the sender works; more are dropped and counted.
        clock: Unix seconds now, for ``webhook-timestamp`` and ``Retry-After`` dates.
        monotonic: Seconds on a monotonic scale, for the horizon.
        sleep: Waits between attempts; by default a wait that :meth:`close` cuts short.
        random: Draws in ``[0, 1)`` for the jitter.
        resolver: Resolves target names (``socket.getaddrinfo`` by default).
        transport: The httpx2 transport under the address checks (tests; default: real HTTP).
        fence: Asked before every attempt with the notification's ``fencing_token`` (the
            evaluator's ``lease.valid``); ``False`` gives it up: this replica lost the lease.

    Raises:
        TargetRefused: the URL is refused by the target policy.
        ValueError: a bad secret (not shown), no secret for the Alertmanager format, or an
            option out of range.
    """

    def __init__(
        self,
        url: str,
        *,
        secrets: Sequence[str] = (),
        format: Literal["alertmanager", "slack"] = "alertmanager",
        allow_http: bool = False,
        allow_private: bool = False,
        allow_networks: Iterable[str] = (),
        timeout_s: float = 5.0,
        max_attempts: int = 10,
        max_horizon_s: float = 900.0,
        base_delay_s: float = 1.0,
        max_delay_s: float = 60.0,
        queue_size: int = 1000,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        random: Callable[[], float] = random_module.random,
        resolver: Resolver | None = None,
        transport: httpx2.BaseTransport | None = None,
        fence: Callable[[int], bool] | None = None,
    ) -> None:
        if isinstance(secrets, str):
            raise TypeError("secrets must be a list of secrets, not one str: use secrets=[secret]")
        if format not in ("alertmanager", "slack"):
            raise ValueError(f"format must be 'alertmanager' or 'slack', got {format!r}")
        webhooks = [_webhook(secret, i) for i, secret in enumerate(secrets)]
        if format == "alertmanager" and not webhooks:
            raise ValueError(
                "give at least one webhook secret: receivers refuse unsigned alert webhooks"
            )
        for name, value, least in (
            ("timeout_s", timeout_s, 0.0),
            ("max_horizon_s", max_horizon_s, 0.0),
            ("base_delay_s", base_delay_s, 0.0),
            ("max_delay_s", max_delay_s, 0.0),
        ):
            if not value > least:
                raise ValueError(f"{name} must be > {least:g}, got {value!r}")
        if max_attempts < 1 or queue_size < 1:
            raise ValueError("max_attempts and queue_size must be >= 1")
        self._policy = TargetPolicy.of(
            allow_http=allow_http,
            allow_private=allow_private,
            allow_networks=allow_networks,
            resolver=resolver,
        )
        self._policy.check_url(url)
        self._url = url.strip()
        self._shown = redact_url(self._url)
        self._webhooks = webhooks
        self._render = alertmanager_body if format == "alertmanager" else slack_body
        self._max_attempts = max_attempts
        self._horizon_s = max_horizon_s
        self._base_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._clock = clock
        self._monotonic = monotonic
        self._random = random
        self._stopping = threading.Event()
        self._sleep = sleep if sleep is not None else self._stopping.wait
        # The transport is used without an httpx2.Client: a client follows no redirect when
        # told so, but it logs every request's full URL at INFO, and a webhook URL's path can
        # be a secret (Slack's is). Nothing here needs what a client adds (cookies, auth).
        self._transport = PinnedTransport(self._policy, transport)
        self._timeout = httpx2.Timeout(timeout_s).as_dict()
        self._queue: queue.Queue[_Item | None] = queue.Queue(queue_size)
        self._idle = threading.Condition()
        self._pending = 0
        self._episodes = FailureEpisodes(_logger)
        self._delivered = 0
        self._failed = 0
        self._dropped = 0
        self._retries = 0
        self._fenced = 0
        self._fence = fence
        self._disabled = False
        self._closed = False
        self._counts = threading.Lock()
        self._thread = threading.Thread(
            target=self._work, name="agentguard-alerts-webhook", daemon=True
        )
        self._thread.start()

    # --- counts -------------------------------------------------------------------------------

    @property
    def delivered(self) -> int:
        """Notifications the target acknowledged with a 2xx."""
        return self._delivered

    @property
    def failed(self) -> int:
        """Notifications given up (refused, 4xx, 410, out of attempts or time, closed)."""
        return self._failed

    @property
    def dropped(self) -> int:
        """Notifications turned away because the queue was full."""
        return self._dropped

    @property
    def fenced(self) -> int:
        """Notifications given up (counted in :attr:`failed` too) as the lease was lost."""
        return self._fenced

    @property
    def retries(self) -> int:
        """Attempts after the first, over every notification."""
        return self._retries

    @property
    def disabled(self) -> bool:
        """Whether the target answered 410 Gone (nothing more is sent to it)."""
        return self._disabled

    # --- taking work --------------------------------------------------------------------------

    def notify(self, notification: Notification) -> None:
        """Queue ``notification`` for delivery; never blocks, never raises on delivery."""
        self.send_body(
            self._render(notification),
            what=f"{notification.status} {notification.group_key}",
            msg_id=notification.id,
            fencing_token=notification.fencing_token,
        )

    def send_body(
        self,
        body: bytes,
        *,
        what: str = "a webhook",
        msg_id: str | None = None,
        fencing_token: int | None = None,
    ) -> None:
        """Queue an encoded JSON body as it is (forwarding one received, say).

        ``what`` names it in logs (no secrets there); ``msg_id`` is its ``webhook-id`` (a
        random one by default), kept by every retry; ``fencing_token`` is checked with the
        ``fence`` before each attempt. Never blocks.
        """
        if self._closed:
            raise RuntimeError("this sender is closed")
        if not isinstance(body, bytes):
            raise TypeError(f"body must be bytes of JSON, got {type(body).__name__}")
        try:
            body.decode()
        except UnicodeDecodeError:
            raise ValueError("body must be UTF-8 JSON") from None
        if self._disabled:
            self._give_up(_Item(body, "", what), "the target answered 410 Gone earlier")
            return
        item = _Item(body, msg_id or f"msg_{uuid.uuid4().hex}", what, fencing_token)
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._finished()
            with self._counts:
                self._dropped += 1
            self._episodes.failed(
                f"agentguard_alerts: webhook {self._shown} queue",
                f"the queue is full ({self._queue.maxsize}); dropped {what} "
                f"({self._dropped} dropped so far)",
            )

    # --- the thread ---------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                if self._stopping.is_set():
                    self._give_up(item, "the sender closed before it could be sent")
                else:
                    self._deliver(item)
            except Exception as exc:  # noqa: BLE001 (the thread must outlive any bug)
                self._give_up(item, f"unexpected {type(exc).__name__}")
            finally:
                self._finished()

    def _deliver(self, item: _Item) -> None:
        started = self._monotonic()
        for attempt in range(1, self._max_attempts + 1):
            if self._disabled:
                self._give_up(item, "the target answered 410 Gone")
                return
            if self._fenced_off(item):
                return
            if attempt > 1:
                with self._counts:
                    self._retries += 1
            status, wait_s, reason = self._attempt(item)
            if status is not None and 200 <= status < 300:
                with self._counts:
                    self._delivered += 1
                key = f"agentguard_alerts: webhook {self._shown}"
                if self._episodes.failing(key):
                    self._episodes.recovered(key)
                return
            if status == 410:
                self._disabled = True
                self._give_up(item, "410 Gone: the target is disabled from now on")
                return
            if wait_s is None:
                self._give_up(item, reason)
                return
            if attempt == self._max_attempts:
                self._give_up(item, f"{reason}; {attempt} attempts made")
                return
            cap = min(self._max_delay_s, self._base_s * 2 ** (attempt - 1))
            delay = max(self._random() * cap, wait_s)
            spent = self._monotonic() - started
            if spent + delay > self._horizon_s:
                self._give_up(
                    item,
                    f"{reason}; the next attempt ({delay:.3g} s away) would pass the "
                    f"{self._horizon_s:g} s horizon after {attempt} attempt(s)",
                )
                return
            self._sleep(delay)
            if self._stopping.is_set():
                self._give_up(item, f"{reason}; the sender closed while waiting to retry")
                return

    def _fenced_off(self, item: _Item) -> bool:
        """Give ``item`` up when its lease token is no longer valid; whether it was."""
        if item.token is None or self._fence is None or self._fence(item.token):
            return False
        with self._counts:
            self._fenced += 1
        self._give_up(
            item,
            f"this replica no longer holds the alert lease (fencing token {item.token}); "
            "the holder sends it",
        )
        return True

    def _attempt(self, item: _Item) -> tuple[int | None, float | None, str]:
        """One POST: ``(status or None, seconds to wait before retrying or None, reason)``."""
        now = self._clock()
        timestamp = datetime.fromtimestamp(int(now), tz=timezone.utc)
        headers = {"content-type": "application/json", "user-agent": _USER_AGENT}
        if item.token is not None:
            headers["agentguard-fencing-token"] = str(item.token)
        if self._webhooks:
            text = item.body.decode()
            headers["webhook-id"] = item.msg_id
            headers["webhook-timestamp"] = str(int(now))
            headers["webhook-signature"] = " ".join(
                w.sign(msg_id=item.msg_id, timestamp=timestamp, data=text) for w in self._webhooks
            )
        request = httpx2.Request(
            "POST",
            self._url,
            content=item.body,
            headers=headers,
            extensions={"timeout": self._timeout},
        )
        try:
            response = self._transport.handle_request(request)
            try:
                status = response.status_code
                retry_after = retry_after_s(response.headers.get("retry-after"), self._clock())
                location = response.headers.get("location")
            finally:
                response.close()  # the body is never read: a target cannot make us hold it
        except TargetRefused as exc:
            return None, None, str(exc)
        except httpx2.TimeoutException as exc:
            return None, 0.0, f"timed out ({type(exc).__name__})"
        except httpx2.TransportError as exc:
            return None, 0.0, f"could not connect or send ({type(exc).__name__})"
        if 200 <= status < 300:
            return status, None, "delivered"
        if 300 <= status < 400:
            where = redact_url(location) if location else "elsewhere"
            return status, None, f"answered {status}, a redirect to {where}, which is not followed"
        if status in RETRYABLE_STATUSES or status >= 500:
            return status, retry_after or 0.0, f"answered {status}"
        return status, None, f"answered {status}, which is not retried"

    def _give_up(self, item: _Item, reason: str) -> None:
        with self._counts:
            self._failed += 1
        self._episodes.failed(
            f"agentguard_alerts: webhook {self._shown}",
            f"gave up delivering {item.what}: {reason} ({self._failed} given up so far)",
        )

    def _finished(self) -> None:
        with self._idle:
            self._pending -= 1
            if self._pending == 0:
                self._idle.notify_all()

    # --- flushing and closing -----------------------------------------------------------------

    def flush(self, timeout_s: float = 2.0) -> bool:
        """Wait at most ``timeout_s`` until everything queued was delivered or given up."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=max(0.0, timeout_s))

    def close(self, timeout_s: float = 2.0) -> None:
        """Deliver what is queued within ``timeout_s``, give up the rest (counted, logged)."""
        if self._closed:
            return
        self._closed = True
        self.flush(timeout_s)
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout_s + 1.0)
        self._transport.close()
        if self._failed or self._dropped:
            _logger.warning(
                "agentguard_alerts: webhook %s closed: %d delivered, %d given up, %d dropped "
                "(queue full)",
                self._shown,
                self._delivered,
                self._failed,
                self._dropped,
            )

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<WebhookSender {self._shown} delivered={self._delivered} failed={self._failed}>"
