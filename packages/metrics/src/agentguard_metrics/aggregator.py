"""``Aggregator``: a buffered subscriber that turns events into deltas and flushes them to a store.

Each event becomes deltas by the compiled rules of :mod:`agentguard.metricmap`, keyed by
series (the metric's labels, then ``agent``) and 1-minute bucket; a flusher thread sends them
as one :class:`~agentguard_metrics.batch.DeltaBatch` every ``interval_s``. Bad amounts are
refused and counted, label values and series are capped, a failed batch is kept and sent
again with the same sequence (the background flushes back off while the store fails), a batch
refused for its content is quarantined, waits are
bounded and a forked child starts afresh: packages/metrics/README.md ("Design") says how.

The trap: nothing raises into the publisher and the publisher never waits for the store;
:meth:`Aggregator.flush` waits at most ``timeout_s``, so check what it returns.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import secrets
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from agentguard import Bus, FailureEpisodes, Subscription, default_bus
from agentguard.events import Event
from agentguard.metricmap import EVENTS_DROPPED
from agentguard_metrics._buffer import Buffer, DeltaBackend, LabelCaps
from agentguard_metrics.batch import DeltaBatch
from agentguard_metrics.caps import DEFAULT_MAX_LABEL_VALUES, check_max_label_values
from agentguard_metrics.errors import InvalidBatch
from agentguard_metrics.memory import MemoryStore
from agentguard_metrics.sketch import DEFAULT_RELATIVE_ACCURACY, mapping_for
from agentguard_metrics.store import Store

__all__ = ["Aggregator"]

_logger = logging.getLogger("agentguard_metrics")
_LIVE: weakref.WeakSet[Aggregator] = weakref.WeakSet()
_QUARANTINE_KEPT = 8
_MAX_BACKOFF_INTERVALS = 16
"""After failures in a row, background flushes wait up to this many intervals apart."""


def _pause(interval_s: float, failures: int) -> float:
    """The wait before the next background flush: doubled per failure in a row, capped.

    Jittered down to half, so the workers of one failed store do not retry in step.
    """
    if not failures:
        return interval_s
    return interval_s * min(1 << failures, _MAX_BACKOFF_INTERVALS) * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not a secret)


def _default_process_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Aggregator:
    """Aggregates events into deltas in process and flushes them to a :class:`Store`.

    Args:
        store: Where flushes go; a new :class:`~agentguard_metrics.memory.MemoryStore` if
            ``None`` (read it back from :attr:`store`).
        process_id: This process's id in batches and gauge contributions; unique per process
            (host, pid and a random part by default; a forked child always makes its own).
        clock: Unix time now, for batch and heartbeat times.
        interval_s: Seconds between background flushes once attached; ``None`` flushes only
            when :meth:`flush` or :meth:`close` is called.
        exit_timeout_s: How long the flush at interpreter exit may take.
        max_label_values: Distinct values kept per label per metric before ``other``, in
            this process (the store caps them across processes too: :mod:`.caps`).
        max_series: Entries held between flushes before new series are dropped (counted).
        relative_accuracy: Of the histograms' sketches.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        process_id: str | None = None,
        clock: Callable[[], float] = time.time,
        interval_s: float | None = 1.0,
        exit_timeout_s: float = 2.0,
        max_label_values: int = DEFAULT_MAX_LABEL_VALUES,
        max_series: int = 100_000,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
    ) -> None:
        if store is not None and not isinstance(store, Store):
            raise TypeError(f"store must follow agentguard_metrics.Store, got {store!r}")
        check_max_label_values(max_label_values)
        if max_series < 1:
            raise ValueError(f"max_series must be >= 1, got {max_series!r}")
        if interval_s is not None and not interval_s > 0:
            raise ValueError(f"interval_s must be > 0 or None, got {interval_s!r}")
        if not exit_timeout_s >= 0:
            raise ValueError(f"exit_timeout_s must be >= 0, got {exit_timeout_s!r}")
        mapping_for(relative_accuracy)  # fails now on a bad accuracy
        self._store: Store = MemoryStore() if store is None else store
        self._fixed_id = process_id
        self._clock = clock
        self._interval_s = interval_s
        self._exit_timeout_s = exit_timeout_s
        self._episodes = FailureEpisodes(_logger)
        self._backend = DeltaBackend(
            LabelCaps(max_label_values), max_series, relative_accuracy, clock, self._episodes
        )
        self._handlers = self._backend.handlers
        self._attached: dict[Bus, Subscription] = {}
        self._failed_flushes = 0
        self._start()
        _LIVE.add(self)

    def _start(self) -> None:
        """The per-process state: fresh at construction and in a forked child."""
        self._process_id = self._fixed_id or _default_process_id()
        self._lock = threading.Lock()
        self._state: list[Any] = self._backend.fresh_state()
        self._backend.state = self._state
        self._backend.levels.clear()  # a forked child's runs start at none
        self._flush_lock = threading.Lock()
        self._pending: DeltaBatch | None = None
        self._quarantined: deque[DeltaBatch] = deque(maxlen=_QUARANTINE_KEPT)
        self._quarantined_count = 0
        self._sequence = 0
        self._flusher: _Flusher | None = None

    def _after_fork(self) -> None:
        had_flusher = self._flusher is not None
        if self._fixed_id is not None:
            self._fixed_id = f"{self._fixed_id}:{os.getpid()}"
        self._start()
        if had_flusher:
            self._ensure_flusher()

    @property
    def store(self) -> Store:
        """The store flushes go to."""
        return self._store

    @property
    def process_id(self) -> str:
        """This process's id in the store."""
        return self._process_id

    @property
    def failed_flushes(self) -> int:
        """How many times the store refused a batch (each kept and sent again later)."""
        return self._failed_flushes

    @property
    def quarantined(self) -> tuple[DeltaBatch, ...]:
        """The latest batches the store refused for their content (at most 8), oldest first.

        Such a batch is never sent again (it could not succeed), so it no longer holds up the
        batches after it; it is kept here to be looked at.
        """
        return tuple(self._quarantined)

    @property
    def quarantined_batches(self) -> int:
        """How many batches the store refused for their content since this process started."""
        return self._quarantined_count

    @property
    def held_series(self) -> int:
        """Entries held in process, waiting for a flush (buffered and refused ones)."""
        with self._lock:
            buffer: Buffer = self._state[0]
            held = buffer.series_count()
        pending = self._pending
        return held + (pending.series_count if pending is not None else 0)

    # --- the subscriber -------------------------------------------------------------------

    def attach(self, bus: Bus | None = None) -> Subscription:
        """Start aggregating the events of ``bus`` (the default bus), flushing every interval.

        Attaching again to a bus this aggregator listens on returns the same subscription.
        """
        bus = default_bus if bus is None else bus
        with self._lock:
            found = self._attached.get(bus)
            if found is not None and not found.closed:
                return found
            subscription = bus.subscribe(self.record, name="agentguard_metrics")
            self._attached[bus] = subscription
        self._ensure_flusher()
        return subscription

    def close(self, timeout_s: float = 2.0) -> bool:
        """Stop listening and flushing, then flush what is held, waiting at most ``timeout_s``.

        Returns whether everything held was applied. Calling it again only flushes again.
        """
        with self._lock:
            attached, self._attached = self._attached, {}
        for subscription in attached.values():
            subscription.close()
        deadline = time.monotonic() + timeout_s
        applied = self.flush(timeout_s)
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.stop(max(0.0, deadline - time.monotonic()))
        return applied

    def record(self, event: Event) -> None:
        """Aggregate one event (what the bus calls; callable directly too)."""
        with self._lock:
            self._handlers[event.__class__](event, self._state)

    # --- flushing -------------------------------------------------------------------------

    def flush(self, timeout_s: float = 2.0) -> bool:
        """Apply what is held to the store; whether all of it was applied within ``timeout_s``.

        With a flusher thread the work runs there and this waits at most ``timeout_s``, even
        when the store hangs; otherwise it runs here. Never raises: a refused batch stays held,
        is counted, and is sent again first by the next flush. A batch refused for its content
        (:class:`~agentguard_metrics.batch.InvalidBatch`) is quarantined instead and no longer
        held, so it does not make this ``False``; :attr:`quarantined_batches` counts it.
        """
        flusher = self._flusher
        if flusher is not None and flusher.alive:
            return flusher.flush_now(timeout_s)
        return self._flush(timeout_s)

    def _flush(self, timeout_s: float) -> bool:
        if not self._flush_lock.acquire(timeout=max(0.0, timeout_s)):
            return False
        try:
            pending = self._pending
            if pending is not None:
                if not self._send(pending):
                    return False
                self._pending = None
            with self._lock:
                state, self._state = self._state, self._backend.fresh_state()
                self._backend.state = self._state
            buffer: Buffer = state[0]
            now = self._clock()
            if buffer.series_count() == 0:
                return self._beat(now)
            self._sequence += 1
            batch = buffer.batch(self._process_id, self._sequence, now)
            if not self._send(batch):
                self._pending = batch
                return False
            return True
        finally:
            self._flush_lock.release()

    def _send(self, batch: DeltaBatch) -> bool:
        key = f"agentguard_metrics: store {type(self._store).__name__}"
        try:
            self._store.apply(batch)
        except InvalidBatch as exc:
            self._quarantine(batch, exc)
            return True
        except Exception as exc:  # noqa: BLE001 (any store's failure: kept, logged, counted)
            self._failed(key, f"a batch of {batch.series_count} series was kept", exc)
            return False
        if self._episodes.failing(key):
            self._episodes.recovered(key)
        return True

    def _quarantine(self, batch: DeltaBatch, exc: InvalidBatch) -> None:
        """Set aside a batch the store refused for its content; count it, log it, go on."""
        self._quarantined.append(batch)
        self._quarantined_count += 1
        with self._lock:
            self._backend.dropped("batch_quarantined")
        self._episodes.failed(
            f"agentguard_metrics: batches refused by store {type(self._store).__name__}",
            f"{exc}; {batch.series_count} series set aside (Aggregator.quarantined) and "
            f'counted in {EVENTS_DROPPED.name}{{reason="batch_quarantined"}}',
        )

    def _beat(self, now: float) -> bool:
        key = f"agentguard_metrics: store {type(self._store).__name__}"
        try:
            self._store.heartbeat(self._process_id, now)
        except Exception as exc:  # noqa: BLE001 (as in _send)
            self._failed(key, "heartbeat failed", exc)
            return False
        if self._episodes.failing(key):
            self._episodes.recovered(key)
        return True

    def _failed(self, key: str, message: str, exc: Exception) -> None:
        self._failed_flushes += 1
        self._episodes.failed(key, f"{message}: {type(exc).__name__}: {exc}", exc)

    def _ensure_flusher(self) -> None:
        if self._interval_s is None:
            return
        with self._lock:
            if self._flusher is None or not self._flusher.alive:
                self._flusher = _Flusher(self, self._interval_s)

    def _at_exit(self) -> None:
        if self._flusher is not None or self._attached:
            self.close(self._exit_timeout_s)

    def __repr__(self) -> str:
        return f"<Aggregator {self._process_id!r} store={self._store!r}>"


class _Flusher:
    """The background thread of one aggregator: a flush every interval, or when asked.

    Holds the aggregator weakly, so an aggregator nobody refers to any more is collected and
    its thread ends.
    """

    def __init__(self, aggregator: Aggregator, interval_s: float) -> None:
        self._aggregator = weakref.ref(aggregator)
        self._interval_s = interval_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._requested = 0
        self._completed = 0
        self._result = True
        self._thread = threading.Thread(
            target=self._run, name="agentguard-metrics-flusher", daemon=True
        )
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the thread runs (it does not survive a fork)."""
        return self._thread.is_alive() and not self._stopping.is_set()

    def flush_now(self, timeout_s: float) -> bool:
        """Ask for a flush and wait at most ``timeout_s`` for it; whether it applied all."""
        with self._lock:
            self._requested += 1
            ticket = self._requested
        self._wake.set()
        with self._lock:
            if not self._done.wait_for(lambda: self._completed >= ticket, max(0.0, timeout_s)):
                return False
            return self._result

    def stop(self, timeout_s: float) -> None:
        """End the thread, waiting at most ``timeout_s`` for it."""
        self._stopping.set()
        self._wake.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._wake.wait(_pause(self._interval_s, failures))  # a flush asked for wakes it
            self._wake.clear()
            if self._stopping.is_set():
                break
            aggregator = self._aggregator()
            if aggregator is None:
                break
            with self._lock:
                ticket = self._requested
            result = aggregator._flush(self._interval_s)
            failures = 0 if result else failures + 1
            del aggregator
            with self._lock:
                self._completed = max(self._completed, ticket)
                self._result = result
                self._done.notify_all()


def _after_fork_in_child() -> None:
    for aggregator in list(_LIVE):
        aggregator._after_fork()


def _at_exit() -> None:
    for aggregator in list(_LIVE):
        aggregator._at_exit()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
