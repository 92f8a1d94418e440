"""``agentguard serve``: the shared metrics service over the Redis aggregates of every worker.

It serves :func:`agentguard_service.create_app` over a :class:`agentguard_redis.RedisStore`
and, with ``--rules FILE``, evaluates alert rules centrally (:func:`agentguard_alerts.load`);
their state changes go on the service's own bus, which a
:class:`~agentguard_redis.RedisSubscriber` writes into the same Redis. Replicas with the same
``--prefix`` evaluate one at a time (:class:`agentguard_alerts.RedisLease`, renewed every
evaluation interval, a term of 1.5 intervals); ``/healthz`` says who holds the lease.

The trap: an unreachable Redis is an outage (start anyway, 503 on data routes, retry with
backoff), but a URL that does not fit (``WRONGPASS``, ``NOAUTH``, ``NOPERM``, TLS on one side
only) is not: one line and exit status 2 at start, one line and stop later. The URL is never
shown with its password.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING

import redis

from agentguard import Bus
from agentguard.redisconnect import redact as redact_url
from agentguard.serving import ConnectionLimits
from agentguard_cli._ports import check_port
from agentguard_redis import (
    DEFAULT_PREFIX,
    SERVICE_READ_STALENESS_S,
    RedisSetupError,
    RedisStore,
    RedisSubscriber,
    RedisUnavailableError,
)
from agentguard_service import DEFAULT_MAX_STREAMS_PER_CLIENT, MetricsService, Token, create_app

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["RedisWatch", "ServeOptions", "outage", "redact", "run_serve"]

_FIRST_RETRY_S = 0.5
_LAST_RETRY_S = 30.0
_LEASE_TERMS_PER_INTERVAL = 1.5
"""The alert lease's term, in evaluation intervals: a standby takes over within two."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """What ``agentguard serve`` was asked for."""

    redis_url: str
    """Where the workers' aggregates are."""
    prefix: str = DEFAULT_PREFIX
    """The key prefix the workers write under."""
    host: str = "127.0.0.1"
    """The address to serve on."""
    port: int = 9464
    """The port (0 picks a free one)."""
    rules: str | None = None
    """A TOML rules file to evaluate centrally."""
    token: str | None = field(default=None, repr=False)
    """A bearer token every data route needs (it may read everything)."""
    tokens: tuple[Token, ...] = ()
    """More tokens, each with its scopes (``agentguard_service.load_tokens``)."""
    budget_usd_per_month: float | None = None
    """The monthly budget the ``costs`` group compares spending with."""
    max_streams_per_client: int = DEFAULT_MAX_STREAMS_PER_CLIENT
    """``/api/v1/stream`` responses one client address may hold open."""
    limits: ConnectionLimits | None = None
    """The connection limits; :class:`~agentguard.serving.ConnectionLimits`'s defaults if None."""


def redact(url: str) -> str:
    """``url`` without its password (``redis://user:***@host``), for messages and logs."""
    return redact_url(url)


def outage(exc: BaseException) -> str:
    """Why Redis is away, in a few words (the one-line message when there is one)."""
    return str(exc) if isinstance(exc, RedisUnavailableError) else type(exc).__name__


class RedisWatch:
    """Checks Redis with backoff on a thread and says when it is lost and when it is back.

    A URL that does not fit the server (:class:`~agentguard_redis.RedisSetupError`: a refused
    login or command, TLS on one side only) is said once, kept in :attr:`refused`, and ends
    the checks (``on_refused`` is called): retrying it would never succeed.
    """

    def __init__(
        self,
        store: RedisStore,
        shown_url: str,
        say: Callable[[str], None],
        *,
        first_retry_s: float = _FIRST_RETRY_S,
        last_retry_s: float = _LAST_RETRY_S,
        on_refused: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._url = shown_url
        self._say = say
        self._first = first_retry_s
        self._last = last_retry_s
        self._on_refused = on_refused
        self._stop = threading.Event()
        self.reachable = threading.Event()
        self.refused: RedisSetupError | None = None
        self._thread = threading.Thread(
            target=self._run, name="agentguard-serve-redis", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        wait, down = self._first, False
        while not self._stop.is_set():
            try:
                self._store.check()
            except RedisSetupError as exc:
                self.reachable.clear()
                self.refused = exc
                self._say(f"agentguard serve: {exc}; Redis at {self._url}; not retrying, stopping")
                self._on_refused()
                return
            except (redis.RedisError, OSError) as exc:
                self.reachable.clear()
                reason = outage(exc)
                self._say(f"cannot reach Redis at {self._url} ({reason}); retrying in {wait:g} s")
                down = True
                self._stop.wait(wait)
                wait = min(wait * 2, self._last)
                continue
            if down or not self.reachable.is_set():
                self._say(f"connected to Redis at {self._url}")
            self.reachable.set()
            down, wait = False, self._first
            self._stop.wait(self._last / 6)

    def close(self) -> None:
        """Stop checking."""
        self._stop.set()
        self._thread.join(5)


@contextlib.contextmanager
def _stopping_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """``stop``, set by SIGTERM or SIGINT too (the previous handlers come back afterwards)."""

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_serve(options: ServeOptions, console: Console) -> int:
    """Serve until SIGTERM or Ctrl-C; returns the exit status (0; 2 when Redis refused later).

    Raises:
        OSError: the port cannot be bound.
        agentguard_alerts.RuleConfigError: the rules file is wrong (the caller says so).
        RedisSetupError: the URL does not fit the server: Redis refuses its credentials, or
            TLS on one side only (the caller says so).
    """
    check_port(options.host, options.port)
    evaluator_config = None
    if options.rules is not None:
        from agentguard_alerts import load

        evaluator_config = load(options.rules)  # a mistake fails now, before serving
    shown = redact(options.redis_url)
    store = RedisStore.from_url(
        options.redis_url, prefix=options.prefix, read_staleness_s=SERVICE_READ_STALENESS_S
    )
    try:
        store.check()
    except RedisSetupError as exc:
        store.client.close()
        exc.args = (f"{exc}; Redis at {shown}",)
        raise exc from None
    except (redis.RedisError, OSError):
        pass  # an outage: the service starts, and the watch says so and waits for Redis
    bus = Bus(name="agentguard-serve")
    subscriber = RedisSubscriber(store, process_id=f"serve:{socket.gethostname()}:{os.getpid()}")
    subscriber.attach(bus)
    say: Callable[[str], None] = lambda text: console.print(text, highlight=False, soft_wrap=True)  # noqa: E731 (one line)
    halt = threading.Event()
    watch = RedisWatch(store, shown, say, on_refused=halt.set)
    evaluator = None
    lease = None
    if evaluator_config is not None:
        from agentguard_alerts import RedisLease

        ttl_s = _LEASE_TERMS_PER_INTERVAL * evaluator_config.interval_s
        lease = RedisLease(store.client, ttl_s=ttl_s, name=options.prefix)
    app = create_app(
        store,
        token=options.token,
        tokens=options.tokens,
        budget_usd_per_month=options.budget_usd_per_month,
        max_streams_per_client=options.max_streams_per_client,
        health=None if lease is None else (lambda: {"alerts": lease.state().as_dict()}),
    )
    with _stopping_on_signals(halt) as stop:
        service = MetricsService(app, host=options.host, port=options.port, limits=options.limits)
        try:
            say(f"agentguard serve: {service.url} over Redis {shown} (prefix {options.prefix!r})")
            say(f"  dashboard {service.url}/   metrics {service.url}/metrics")
            if evaluator_config is not None and lease is not None:
                evaluator = evaluator_config.evaluator(store, bus=bus, lease=lease).start()
                say(f"  alert rules: {len(evaluator_config.rules)} from {options.rules}")
                say(f"  alert lease {lease.key}: replica {lease.state().replica}")
            stop.wait()
        finally:
            say("agentguard serve: stopping")
            if evaluator is not None:
                evaluator.close()
            service.close()
            watch.close()
            subscriber.close(2.0)
            store.client.close()
    return 2 if watch.refused is not None else 0
