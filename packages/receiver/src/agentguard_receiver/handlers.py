"""What runs after a notification is acknowledged: log it, call your function, forward it.

Handlers run on a thread of their own (:class:`Dispatcher`), one notification at a time in
order, so a slow handler never slows an acknowledgement; replays of a stored ``webhook-id`` do
not run them again. A handler is any callable taking one :class:`Received` (sync or
``async``); built in: :func:`log_alerts`, :func:`load_handler` (``"package.module:function"``)
and :func:`forward_to` (agentguard-alerts' sender, the ``forward`` extra).

The trap: a handler that raises is logged once per episode and counted
(:attr:`Dispatcher.failed`), never retried; past ``queue_size`` waiting, new notifications skip
the handlers (still stored), counted in :attr:`Dispatcher.dropped`.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentguard import FailureEpisodes
from agentguard_receiver._anthropic import AnthropicEvent
from agentguard_receiver._payload import Alert, Notification

if TYPE_CHECKING:
    from agentguard_alerts import WebhookSender

__all__ = [
    "Alert",
    "AnthropicEvent",
    "Dispatcher",
    "Forwarder",
    "Handler",
    "Notification",
    "Received",
    "forward_to",
    "load_handler",
    "log_alerts",
]

_logger = logging.getLogger("agentguard_receiver")
_alerts_logger = logging.getLogger("agentguard_receiver.alerts")


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """One notification the receiver stored, as handlers get it."""

    notification: Notification
    """The notification, parsed and checked."""
    webhook_id: str | None
    """Its ``webhook-id`` (``None`` when it came with a bearer token)."""
    received_at_unix_s: float
    """When the receiver stored it."""
    body: bytes
    """The Alertmanager-v4 body (UTF-8 JSON): exactly as received, or, for an Anthropic
    event, the one made from its alert (what :func:`forward_to` forwards)."""
    anthropic_event: AnthropicEvent | None = None
    """The Anthropic platform event the notification was made from (``POST
    /webhooks/anthropic``), or ``None`` for an alert webhook."""


Handler = Callable[[Received], Any]
"""A handler: called with each stored notification, on the dispatcher's thread."""


def log_alerts(received: Received) -> None:
    """Log each alert of the notification at INFO: status, name, labels and summary."""
    for alert in received.notification.alerts:
        labels = " ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k != "alertname")
        _alerts_logger.info(
            "%s %s {%s} %s",
            alert.status.upper(),
            alert.labels.get("alertname", "?"),
            labels,
            alert.annotations.get("summary", ""),
        )


def load_handler(spec: str) -> Handler:
    """The callable named ``"package.module:function"`` (a dotted attribute path after ``:``).

    Raises:
        ValueError: the text is not of that form, the module cannot be imported or the name
            is missing; the message says which.
        TypeError: the name is not callable.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"a handler is 'package.module:function', got {spec!r}")
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"handler {spec!r}: cannot import {module_name!r}: {exc}") from None
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ValueError(f"handler {spec!r}: {module_name!r} has no {attribute!r}") from None
    if not callable(found):
        raise TypeError(f"handler {spec!r} is not callable")
    handler: Handler = found
    return handler


class Forwarder:
    """A handler that forwards each body to a URL, signed with its own secrets."""

    def __init__(self, sender: WebhookSender) -> None:
        self.sender = sender
        """The sender doing the work (its counts tell what was delivered)."""

    def __call__(self, received: Received) -> None:
        """Queue the body for the sender (never blocks), under the ``webhook-id`` it came with.

        So the next receiver dedupes what this one would forward twice (two receivers behind
        one sender, say); a body that came with a bearer token gets a fresh id.
        """
        self.sender.send_body(
            received.body,
            what=f"{received.notification.status} {received.notification.group_key} (forwarded)",
            msg_id=received.webhook_id,
        )

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything queued was delivered or given up."""
        return self.sender.flush(timeout_s)

    def close(self) -> None:
        """Deliver what is queued (bounded), then stop."""
        self.sender.close()


def forward_to(url: str, *, secrets: Sequence[str], **options: Any) -> Forwarder:
    """A handler forwarding every notification to ``url``, signed with ``secrets``.

    ``options`` are ``agentguard_alerts.WebhookSender``'s (``allow_http``, ``allow_private``,
    ``timeout_s``, ...).

    Raises:
        ImportError: agentguard-alerts is not installed.
        ValueError: the target or a secret is refused (``TargetRefused`` is a ValueError).
    """
    try:
        from agentguard_alerts import WebhookSender
    except ImportError as exc:
        raise ImportError(
            "forwarding needs agentguard-alerts: pip install 'agentguard-receiver[forward]'"
        ) from exc
    return Forwarder(WebhookSender(url, secrets=secrets, **options))


class Dispatcher:
    """Runs handlers on a thread of its own, in the order notifications were stored."""

    def __init__(self, handlers: Sequence[Handler], *, queue_size: int = 1000) -> None:
        for handler in handlers:
            if not callable(handler):
                raise TypeError(f"a handler must be callable, got {handler!r}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size!r}")
        self._handlers = tuple(handlers)
        self._queue: queue.Queue[Received | None] = queue.Queue(queue_size)
        self._episodes = FailureEpisodes(_logger)
        self._idle = threading.Condition()
        self._pending = 0
        self.handled = 0
        """Notifications every handler was run for."""
        self.failed = 0
        """Handler calls that raised."""
        self.dropped = 0
        """Notifications that skipped the handlers because the queue was full."""
        self._thread: threading.Thread | None = None
        if self._handlers:
            self._thread = threading.Thread(
                target=self._work, name="agentguard-receiver-handlers", daemon=True
            )
            self._thread.start()

    def submit(self, received: Received) -> None:
        """Queue ``received`` for the handlers; never blocks."""
        if self._thread is None:
            return
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(received)
        except queue.Full:
            self._done()
            self.dropped += 1
            self._episodes.failed(
                "agentguard_receiver: handlers queue",
                f"{self._queue.maxsize} notifications wait for the handlers; one skips them "
                f"(stored all the same; {self.dropped} so far)",
            )

    def _work(self) -> None:
        while True:
            received = self._queue.get()
            if received is None:
                return
            try:
                for handler in self._handlers:
                    self._run(handler, received)
                self.handled += 1
            finally:
                self._done()

    def _run(self, handler: Handler, received: Received) -> None:
        name = getattr(handler, "__qualname__", type(handler).__name__)
        key = f"agentguard_receiver: handler {name}"
        try:
            result = handler(received)
            if inspect.isawaitable(result):
                asyncio.run(_await(result))
        except Exception as exc:  # noqa: BLE001 (a user's handler may raise anything)
            self.failed += 1
            self._episodes.failed(key, f"raised {type(exc).__name__}", exc)
            return
        if self._episodes.failing(key):
            self._episodes.recovered(key)

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            if self._pending == 0:
                self._idle.notify_all()

    def flush(self, timeout_s: float) -> bool:
        """Wait at most ``timeout_s`` until the handlers ran for everything queued."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=max(0.0, timeout_s))

    def close(self, timeout_s: float = 2.0) -> None:
        """Run the handlers for what is queued (bounded), stop, and close the handlers."""
        if self._thread is None:
            return
        thread, self._thread = self._thread, None
        if not self.flush(timeout_s):
            _logger.warning(
                "agentguard_receiver: closing with %d notification(s) not yet handled",
                self._pending,
            )
        self._queue.put(None)
        thread.join(timeout_s)
        for handler in self._handlers:
            close: Callable[[], object] | None = getattr(handler, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:  # noqa: BLE001 (close the others whatever one does)
                    self._episodes.failed("agentguard_receiver: handler close", repr(exc), exc)


async def _await(awaitable: Any) -> None:
    await awaitable
