"""``Aggregator``: a buffered subscriber that turns events into deltas and flushes them to a store.

Each event becomes deltas by :func:`agentguard.metricmap.effects` (the one mapping, read, never
restated), held in process and keyed by series and 1-minute time bucket of the event's
``at_unix_s``:

- counters (``inc``) add; amounts that are NaN, infinite or negative are refused and counted
  in ``agentguard_invalid_values_total{field=<metric>}``;
- histograms (``observe``) merge into a :class:`~agentguard_metrics.sketch.Sketch` per series
  and bucket; NaN, infinite or negative observations are refused and counted the same way;
- ``inc``/``dec`` gauges (``agentguard_runs_in_progress``) keep this process's net change,
  which the store adds to this process's contribution; it counts while the process
  heartbeats (every flush is a heartbeat), so a dead process's runs drop out;
- ``set`` gauges (``agentguard_breaker_state``) keep the latest value with its event time;
  the store keeps the latest across processes.

Label values past ``max_label_values`` per label per metric fold into ``other`` (each folded
effect counted in ``agentguard_series_dropped_total{metric}``); past ``max_series`` entries
held, an effect on a new series is dropped and counted in
``agentguard_events_dropped_total{reason="series_cap"}``. Never silent, never unbounded.

:meth:`Aggregator.flush` swaps the buffer under a short lock and applies it outside the lock as
one :class:`~agentguard_metrics.batch.DeltaBatch` with id ``process_id:sequence``. When the
store fails, the batch is kept as it is (same id, so a store that did apply it before its
reply was lost ignores it when it comes again) and new deltas keep merging in the buffer
meanwhile: at most two sets of series are held, whatever the number of events. The failure is
logged once per episode and counted in :attr:`Aggregator.failed_flushes`; nothing raises into
the publisher.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

from agentguard import Bus, FailureEpisodes, Subscription, default_bus
from agentguard.events import Event
from agentguard.metricmap import (
    EVENTS_DROPPED,
    INVALID_VALUES,
    METRICS,
    SERIES_DROPPED,
    effects,
)
from agentguard_metrics._buffer import Buffer, LabelCaps
from agentguard_metrics.batch import BASE_RESOLUTION_S, DeltaBatch, GaugeSet
from agentguard_metrics.memory import MemoryStore
from agentguard_metrics.sketch import DEFAULT_RELATIVE_ACCURACY, Sketch, mapping_for
from agentguard_metrics.store import AGENT, Store

__all__ = ["Aggregator"]

_logger = logging.getLogger("agentguard_metrics")
_INF = math.inf
_SERIES_DROPPED = SERIES_DROPPED.name
_INVALID = INVALID_VALUES.name
_DROPPED = EVENTS_DROPPED.name
_BY_AGENT = frozenset(m.name for m in METRICS if AGENT in m.labels)


def _default_process_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Aggregator:
    """Aggregates events into deltas in process and flushes them to a :class:`Store`.

    Args:
        store: Where flushes go; a new :class:`~agentguard_metrics.memory.MemoryStore` if
            ``None`` (read it back from :attr:`store`).
        process_id: This process's id in batch ids and gauge contributions; unique per
            process (host, pid and a random part by default).
        clock: Unix time now, for batch and heartbeat times.
        max_label_values: Distinct values kept per label per metric before ``other``.
        max_series: Entries held between flushes before new series are dropped (counted).
        relative_accuracy: Of the histograms' sketches.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        process_id: str | None = None,
        clock: Callable[[], float] = time.time,
        max_label_values: int = 100,
        max_series: int = 100_000,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
    ) -> None:
        if store is not None and not isinstance(store, Store):
            raise TypeError(f"store must follow agentguard_metrics.Store, got {store!r}")
        if max_label_values < 1:
            raise ValueError(f"max_label_values must be >= 1, got {max_label_values!r}")
        if max_series < 1:
            raise ValueError(f"max_series must be >= 1, got {max_series!r}")
        mapping_for(relative_accuracy)  # fails now on a bad accuracy
        self._store: Store = MemoryStore() if store is None else store
        self._process_id = process_id or _default_process_id()
        self._clock = clock
        self._max_series = max_series
        self._accuracy = relative_accuracy
        self._caps = LabelCaps(max_label_values)
        self._lock = threading.Lock()
        self._buffer = Buffer()
        self._flush_lock = threading.Lock()
        self._pending: DeltaBatch | None = None
        self._sequence = 0
        self._failed_flushes = 0
        self._episodes = FailureEpisodes(_logger)
        self._attached: dict[Bus, Subscription] = {}

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
    def held_series(self) -> int:
        """Entries held in process, waiting for a flush (buffered and refused ones)."""
        with self._lock:
            held = self._buffer.series_count()
        pending = self._pending
        return held + (pending.series_count if pending is not None else 0)

    # --- the subscriber -------------------------------------------------------------------

    def attach(self, bus: Bus | None = None) -> Subscription:
        """Start aggregating the events of ``bus`` (the default bus).

        Attaching again to a bus this aggregator listens on returns the same subscription.
        """
        bus = default_bus if bus is None else bus
        with self._lock:
            found = self._attached.get(bus)
            if found is not None and not found.closed:
                return found
            subscription = bus.subscribe(self.record, name="agentguard_metrics")
            self._attached[bus] = subscription
        return subscription

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop listening on every bus, then flush what is held, waiting at most ``timeout_s``."""
        with self._lock:
            attached, self._attached = self._attached, {}
        for subscription in attached.values():
            subscription.close()
        self.flush(timeout_s)

    def record(self, event: Event) -> None:  # noqa: PLR0912, PLR0915 (one hot loop: a call per effect would cost throughput)
        """Aggregate one event (what the bus calls; callable directly too)."""
        found = effects(event)
        bucket = int(event.at_unix_s // BASE_RESOLUTION_S) * BASE_RESOLUTION_S
        agent = (event.agent or "",)
        fold = self._caps.fold
        with self._lock:
            buffer = self._buffer
            counters = buffer.counters
            for effect in found:
                metric = effect.metric
                name = metric.name
                own = effect.labels if name in _BY_AGENT else effect.labels + agent
                labels, folded = fold(name, own)
                if folded:
                    self._count(_SERIES_DROPPED, (name, ""), bucket)
                value = effect.value
                op = effect.op
                if op == "inc" and metric.type == "counter":
                    if not 0.0 <= value < _INF:
                        self._count(_INVALID, (name, ""), bucket)
                        continue
                    key = (name, labels, bucket)
                    held = counters.get(key)
                    if held is not None:
                        counters[key] = held + value
                    elif self._room():
                        counters[key] = value
                elif op == "observe":
                    if not 0.0 <= value < _INF:
                        self._count(_INVALID, (name, ""), bucket)
                        continue
                    key = (name, labels, bucket)
                    sketch = buffer.histograms.get(key)
                    if sketch is None:
                        if not self._room():
                            continue
                        sketch = buffer.histograms[key] = Sketch(self._accuracy)
                    sketch.add(value)
                elif op == "set":
                    series = (name, labels)
                    was = buffer.gauge_sets.get(series)
                    if (was is not None or self._room()) and (
                        was is None or event.at_unix_s >= was.at_unix_s
                    ):
                        buffer.gauge_sets[series] = GaugeSet(value, event.at_unix_s)
                else:  # inc or dec of a gauge
                    if not math.isfinite(value):
                        self._count(_INVALID, (name, ""), bucket)
                        continue
                    series = (name, labels)
                    deltas = buffer.gauge_deltas
                    was_delta = deltas.get(series)
                    if was_delta is not None or self._room():
                        amount = value if op == "inc" else -value
                        deltas[series] = (was_delta or 0.0) + amount

    def _room(self) -> bool:
        """Whether a new series fits; counts the drop when not. Called under the lock."""
        if self._buffer.series_count() < self._max_series:
            return True
        self._count(_DROPPED, ("series_cap", ""), None)
        return False

    def _count(self, name: str, labels: tuple[str, ...], bucket: int | None) -> None:
        """Add 1 to a counter about the aggregator itself (exempt from the caps)."""
        if bucket is None:
            bucket = int(self._clock() // BASE_RESOLUTION_S) * BASE_RESOLUTION_S
        counters = self._buffer.counters
        key = (name, labels, bucket)
        counters[key] = counters.get(key, 0.0) + 1.0

    # --- flushing -------------------------------------------------------------------------

    def flush(self, timeout_s: float = 2.0) -> bool:
        """Apply what is held to the store; whether all of it was applied.

        Waits at most ``timeout_s`` for another flush to finish. The store call runs in the
        calling thread (a store whose calls can hang must bound them itself). Never raises:
        a refused batch stays held, is counted and is sent again, with the same id, by the
        next flush.
        """
        if not self._flush_lock.acquire(timeout=max(0.0, timeout_s)):
            return False
        try:
            pending = self._pending
            if pending is not None:
                if not self._send(pending):
                    return False
                self._pending = None
            with self._lock:
                buffer, self._buffer = self._buffer, Buffer()
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
        except Exception as exc:  # noqa: BLE001 (any store's failure: kept, logged, counted)
            self._failed(key, f"a batch of {batch.series_count} series was kept", exc)
            return False
        if self._episodes.failing(key):
            self._episodes.recovered(key)
        return True

    def _beat(self, now: float) -> bool:
        key = f"agentguard_metrics: store {type(self._store).__name__}"
        try:
            self._store.heartbeat(self._process_id, now)
        except Exception as exc:  # noqa: BLE001 (as in _send)
            self._failed(key, "heartbeat failed", exc)
            return False
        return True

    def _failed(self, key: str, message: str, exc: Exception) -> None:
        self._failed_flushes += 1
        self._episodes.failed(key, f"{message}: {type(exc).__name__}", exc)

    def __repr__(self) -> str:
        return f"<Aggregator {self._process_id!r} store={self._store!r}>"
