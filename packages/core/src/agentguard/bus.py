"""The event bus every producer publishes to and every subscriber listens on.

:class:`Bus` keeps blinker signals (in a namespace of its own, strong references) as the
registry of record and derives from them, on every subscribe and close, a table from event
class to handlers that :meth:`Bus.publish` reads without a lock. A handler's exception never
reaches the publisher: it is counted (:meth:`Bus.subscriber_errors`) and logged once per
episode. A coroutine handler is bound to the loop running when it subscribes (else
:class:`~agentguard.errors.NoRunningLoopError`) and scheduled there, at most ``max_pending``
at a time; what cannot be delivered is counted in :meth:`Bus.events_dropped`. Publish,
subscribe and close are thread-safe; docs/architecture.md ("The core") has the details.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, cast

import blinker

from agentguard.episodes import FailureEpisodes
from agentguard.errors import NoRunningLoopError
from agentguard.events import EVENT_TYPES, Event

__all__ = ["Bus", "Handler", "Subscription", "default_bus"]

_logger = logging.getLogger("agentguard.bus")

Handler = Callable[[Any], object]
"""A subscriber's handler: called with one event; an async function works too (see above)."""

_ALL = "*"
_Future = asyncio.Future[Any] | concurrent.futures.Future[Any]


class _Receiver:
    """One subscription's entry in the blinker registry."""

    __slots__ = ("call", "handler", "name", "seq")

    def __init__(self, seq: int, name: str, call: Handler, handler: Handler) -> None:
        self.seq = seq
        self.name = name
        self.call = call
        self.handler = handler

    def __call__(self, event: Event) -> object:
        return self.call(event)


class Subscription:
    """A handler's place on a bus. Close it to stop receiving; it is also a context manager."""

    __slots__ = ("_bus", "_closed", "_receiver", "_signal", "_to")

    def __init__(
        self,
        bus: Bus,
        receiver: _Receiver,
        signal: blinker.Signal,
        to: type[Event] | None,
    ) -> None:
        self._bus = bus
        self._receiver = receiver
        self._signal = signal
        self._to = to
        self._closed = False

    @property
    def name(self) -> str:
        """The subscriber's name, as used in error counts and logs."""
        return self._receiver.name

    @property
    def to(self) -> type[Event] | None:
        """The event class subscribed to, or ``None`` for every event."""
        return self._to

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def close(self) -> None:
        """Stop delivering events to the handler. Calling it again does nothing."""
        self._bus._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        to = "every event" if self._to is None else self._to.__name__
        state = "closed" if self._closed else "open"
        return f"<Subscription {self.name!r} to {to} ({state})>"


class Bus:
    """A typed event bus on blinker signals. See the module docstring for the guarantees.

    Args:
        name: Name of the bus, used in its blinker namespace's signal docs and in logs.
        log_quiet_s: Seconds between log lines about a subscriber that keeps failing.
        clock: Monotonic clock for the logging episodes (inject one in tests).
        max_pending: Scheduled tasks an async subscriber may hold before events for it are
            dropped and counted (``async_backlog``); :meth:`subscribe` may set its own.
    """

    __slots__ = (
        "__weakref__",
        "_counts_lock",
        "_dispatch",
        "_dropped",
        "_episodes",
        "_errors",
        "_lock",
        "_max_pending",
        "_pending",
        "_seq",
        "_signals",
        "name",
    )

    def __init__(
        self,
        *,
        name: str = "agentguard",
        log_quiet_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_pending: int = 10_000,
    ) -> None:
        _check_max_pending(max_pending)
        self.name = name
        self._max_pending = max_pending
        self._signals = blinker.Namespace()
        self._signals.signal(_ALL, doc=f"every event published on bus {name!r}")
        for cls in EVENT_TYPES:
            self._signals.signal(cls.kind, doc=f"{cls.__name__} events on bus {name!r}")
        self._lock = threading.Lock()
        self._counts_lock = threading.Lock()
        self._seq = itertools.count()
        self._dispatch: dict[type, tuple[Handler, ...]] = dict.fromkeys(EVENT_TYPES, ())
        self._errors: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        self._episodes = FailureEpisodes(_logger, quiet_s=log_quiet_s, clock=clock)
        self._pending: set[_Future] = set()

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every handler subscribed to its class or to every event.

        Never raises because of a handler (see the module docstring).

        Raises:
            TypeError: ``event`` is not an instance of a class of :mod:`agentguard.events`.
        """
        # The shape of this method is measured (bench/bench_bus.py): a dict lookup, then a
        # loop only when someone listens.
        try:
            handlers = self._dispatch[event.__class__]
        except KeyError:
            raise TypeError(
                "Bus.publish() expects an event from agentguard.events "
                f"(LLMCallFinished, RunStarted, ...), got {type(event).__qualname__}"
            ) from None
        if handlers:
            for handler in handlers:
                try:
                    handler(event)
                except Exception as exc:  # noqa: BLE001 (isolation: no handler error reaches the publisher)
                    self._handler_failed(handler, exc)

    def wants(self, cls: type[Event]) -> bool:
        """Whether anything is subscribed to ``cls`` (lets producers skip building events)."""
        return bool(self._dispatch.get(cls))

    def subscribe(
        self,
        handler: Handler,
        to: type[Event] | None = None,
        *,
        name: str | None = None,
        max_pending: int | None = None,
    ) -> Subscription:
        """Call ``handler(event)`` for every event of class ``to`` (every event if ``None``).

        Args:
            handler: A callable taking one event. A coroutine function is scheduled on the
                loop running here (see the module docstring).
            to: An event class from :mod:`agentguard.events`, or ``None`` for all events.
            name: Name for error counts and logs; by default the handler's qualified name.
            max_pending: For an async handler, the scheduled tasks it may hold before events
                for it are dropped and counted; the bus's ``max_pending`` if ``None``.

        Raises:
            TypeError: ``handler`` is not callable or ``to`` is not an event class.
            ValueError: ``max_pending`` is below 1.
            NoRunningLoopError: ``handler`` is async and no event loop is running.
        """
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {type(handler).__qualname__}")
        if to is not None and to not in self._dispatch:
            raise TypeError(
                "to= must be an event class from agentguard.events (for example "
                f"LLMCallFinished) or None for every event, got {to!r}"
            )
        if max_pending is None:
            max_pending = self._max_pending
        _check_max_pending(max_pending)
        name = name or _describe(handler)
        call = self._async_caller(handler, name, max_pending) if _is_async(handler) else handler
        receiver = _Receiver(next(self._seq), name, call, handler)
        signal = self._signals[_ALL if to is None else to.kind]
        with self._lock:
            signal.connect(receiver, weak=False)
            self._rebuild()
        return Subscription(self, receiver, signal, to)

    def subscriber_errors(self) -> dict[str, int]:
        """Errors raised by handlers so far, by subscriber name."""
        with self._counts_lock:
            return dict(self._errors)

    def events_dropped(self) -> dict[str, int]:
        """Events not handed to a handler, by reason (``loop_closed``, ``async_backlog``)."""
        with self._counts_lock:
            return dict(self._dropped)

    async def drain(self) -> None:
        """Wait until every async handler scheduled so far (and any they cause) has run."""
        while True:
            pending = [f for f in list(self._pending) if not f.done()]
            if not pending:
                return
            await asyncio.gather(
                *(
                    asyncio.wrap_future(f) if isinstance(f, concurrent.futures.Future) else f
                    for f in pending
                ),
                return_exceptions=True,
            )

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription._closed:
                return
            subscription._closed = True
            subscription._signal.disconnect(subscription._receiver)
            self._rebuild()

    def _rebuild(self) -> None:
        """Derive the dispatch table from the signals. Caller holds ``self._lock``."""
        every = list(self._signals[_ALL].receivers.values())
        table: dict[type, tuple[Handler, ...]] = {}
        for cls in EVENT_TYPES:
            receivers = list(self._signals[cls.kind].receivers.values()) + every
            receivers.sort(key=lambda r: r.seq)  # type: ignore[union-attr]  # all are _Receiver
            table[cls] = tuple(r.call for r in receivers)  # type: ignore[union-attr]  # same
        self._dispatch = table

    def _name_of(self, call: Handler) -> str:
        for signal in self._signals.values():
            for receiver in signal.receivers.values():
                if isinstance(receiver, _Receiver) and receiver.call is call:
                    return receiver.name
        return _describe(call)

    def _handler_failed(self, handler: Handler, exc: Exception) -> None:
        self._report(self._name_of(handler), exc)

    def _report(self, name: str, exc: BaseException) -> None:
        with self._counts_lock:
            self._errors[name] += 1
        self._episodes.failed(
            f"bus {self.name!r} subscriber {name}", f"handler raised {exc!r}", exc
        )

    def _async_failed(self, name: str, exc: BaseException) -> None:
        self._report(name, exc)

    def _drop(self, reason: str, name: str) -> None:
        with self._counts_lock:
            self._dropped[reason] += 1
        self._episodes.failed(
            f"bus {self.name!r} subscriber {name}: {reason}",
            f"an event was dropped ({reason}); counted in Bus.events_dropped() and "
            "agentguard_events_dropped_total",
        )

    def _async_caller(self, handler: Handler, name: str, max_pending: int) -> Handler:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise NoRunningLoopError(
                f"async handler {name} needs a running asyncio event loop to be scheduled on: "
                "subscribe it from inside the loop (in an async function), or subscribe a "
                "sync handler that hands events to your loop"
            ) from None

        pending = [0]  # this subscriber's scheduled tasks, under self._counts_lock

        def done(future: _Future) -> None:
            self._pending.discard(future)
            with self._counts_lock:
                pending[0] -= 1
            if future.cancelled():
                return
            exc = future.exception()
            if exc is not None:
                self._async_failed(name, exc)

        def call(event: Event) -> None:
            with self._counts_lock:
                full = pending[0] >= max_pending
                if not full:
                    pending[0] += 1
            if full:
                self._drop("async_backlog", name)
                return
            try:
                coroutine = cast("Coroutine[Any, Any, object]", handler(event))
            except BaseException:
                with self._counts_lock:
                    pending[0] -= 1
                raise
            try:
                running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            future: _Future
            if running is loop:
                future = loop.create_task(coroutine)
            else:
                try:
                    future = asyncio.run_coroutine_threadsafe(coroutine, loop)
                except RuntimeError:  # the loop has closed
                    coroutine.close()
                    with self._counts_lock:
                        self._dropped["loop_closed"] += 1
                        pending[0] -= 1
                    return
            self._pending.add(future)
            future.add_done_callback(done)

        return call

    def __repr__(self) -> str:
        return f"<Bus {self.name!r}>"


def _check_max_pending(max_pending: int) -> None:
    if type(max_pending) is not int or max_pending < 1:
        raise ValueError(f"max_pending must be an int >= 1, got {max_pending!r}")


def _is_async(handler: Handler) -> bool:
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 (we want the method, not callable())
    return call is not None and inspect.iscoroutinefunction(call)


def _describe(handler: Handler) -> str:
    qualname = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    module = getattr(handler, "__module__", None) or type(handler).__module__
    return f"{module}.{qualname}"


default_bus = Bus(name="default")
"""The bus producers publish to and subscribers attach to unless given another."""
