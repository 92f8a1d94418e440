"""Where the values live: one :class:`Store` per registry, exposed at scrape time.

A *cell* is a list of floats written by one thread only: ``[value]`` for a counter or gauge,
``[bucket_0, ..., +Inf bucket, sum]`` for a histogram (per-bucket counts). Each thread has its
own :class:`Cells` per store; :meth:`Store.collect` sums every thread's cells under the store
lock and yields the families of :meth:`agentguard.metricmap.Metric.prometheus_family`. Gauges
set by events and the slow-path counts live in shared cells updated under the lock. One store
per registry (a weak key), registered once, exposes the union of its subscribers' metrics;
:class:`BusCollector` reads the buses' error and drop counts. docs/architecture.md ("The
Prometheus subscriber") has the reasoning.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter as _Tally
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.core import (
    Metric as Family,
)
from prometheus_client.utils import floatToGoString

from agentguard.bus import Bus
from agentguard.metricmap import EVENTS_DROPPED, METRICS, SUBSCRIBER_ERRORS, Metric

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

__all__ = ["BUS_METRICS", "BusCollector", "Cell", "Cells", "Store", "bus_collector", "store"]

BUS_METRICS = frozenset({SUBSCRIBER_ERRORS.name, EVENTS_DROPPED.name})
"""The metrics read from the bus at scrape time rather than moved by events."""

Cell = list[float]
"""The numbers of one series in one thread (see the module docstring for the layout)."""

_lock = threading.Lock()
_stores: weakref.WeakKeyDictionary[CollectorRegistry, Store] = weakref.WeakKeyDictionary()
_collectors: weakref.WeakKeyDictionary[CollectorRegistry, BusCollector] = (
    weakref.WeakKeyDictionary()
)


def cell_size(metric: Metric) -> int:
    """The length of a cell of ``metric``: buckets, ``+Inf`` and sum, or one value."""
    return len(metric.buckets) + 2 if metric.type == "histogram" else 1


class Cells:
    """The cells of one thread (and one subscriber): metric name -> label values -> cell."""

    __slots__ = ("by_metric", "thread")

    def __init__(self, thread: threading.Thread | None) -> None:
        self.thread = thread
        self.by_metric: dict[str, dict[tuple[str, ...], Cell]] = {}

    def add_into(self, total: dict[str, dict[tuple[str, ...], Cell]]) -> None:
        """Add every cell here into ``total`` (copies, never aliases)."""
        for name, series in self.by_metric.items():
            into = total.setdefault(name, {})
            for labels, cell in series.items():
                have = into.get(labels)
                if have is None:
                    into[labels] = list(cell)  # one copy: atomic against the owner's adds
                else:
                    for i, number in enumerate(list(cell)):
                        have[i] += number


class Store:
    """The values of every subscriber of one registry, and their collector.

    Made by :func:`store`, one per registry; its :meth:`collect` is what the registry calls.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(n for n in names if n not in BUS_METRICS)
        self.lock = threading.Lock()
        self._threads: list[Cells] = []
        self._retired = Cells(None)
        self._shared = Cells(None)

    # -- writing (slow paths; the hot path writes cells it already holds) --------------------

    def thread_cells(self) -> Cells:
        """New cells for the calling thread, listed for scrapes."""
        cells = Cells(threading.current_thread())
        with self.lock:
            self._threads.append(cells)
        return cells

    def cell(self, cells: Cells, metric: Metric, labels: tuple[str, ...]) -> Cell:
        """The cell of ``metric{labels}`` in ``cells``, created (under the lock) if new."""
        series = cells.by_metric.get(metric.name)
        found = None if series is None else series.get(labels)
        if found is None:
            with self.lock:
                series = cells.by_metric.setdefault(metric.name, {})
                found = series.setdefault(labels, [0.0] * cell_size(metric))
        return found

    def shared(self, metric: Metric, op: str, labels: tuple[str, ...]) -> Callable[[float], None]:
        """The update ``op`` of the shared cell of ``metric{labels}``: runs under the lock."""
        cell = self.cell(self._shared, metric, labels)
        lock = self.lock

        if op == "set":

            def update(amount: float) -> None:
                with lock:
                    cell[0] = amount

        elif op == "dec":

            def update(amount: float) -> None:
                with lock:
                    cell[0] -= amount

        else:

            def update(amount: float) -> None:
                with lock:
                    cell[0] += amount

        return update

    def count(self, metric: Metric, labels: tuple[str, ...]) -> None:
        """Add one to the shared counter ``metric{labels}`` (slow paths only)."""
        cell = self.cell(self._shared, metric, labels)
        with self.lock:
            cell[0] += 1.0

    # -- reading --------------------------------------------------------------------------

    def _totals(self) -> dict[str, dict[tuple[str, ...], Cell]]:
        total: dict[str, dict[tuple[str, ...], Cell]] = {}
        with self.lock:
            alive = []
            for cells in self._threads:
                if cells.thread is not None and not cells.thread.is_alive():
                    # The thread has ended: nobody writes these cells any more.
                    cells.add_into(self._retired.by_metric)
                else:
                    alive.append(cells)
            self._threads = alive
            for cells in (self._retired, *alive, self._shared):
                cells.add_into(total)
        return total

    def describe(self) -> Iterator[Family]:
        """The families, empty (lets the registry check names at registration)."""
        for metric in METRICS:
            if metric.name in self.names:
                yield metric.prometheus_family()

    def collect(self) -> Iterator[Family]:
        """Every family of :attr:`names`, the cells of every thread summed now."""
        total = self._totals()
        for metric in METRICS:
            if metric.name not in self.names:
                continue
            series = total.get(metric.name, {})
            family = metric.prometheus_family()
            if isinstance(family, HistogramMetricFamily):
                bounds = [_go_float(b) for b in metric.buckets] + ["+Inf"]
                last = len(bounds)
                for labels, cell in series.items():
                    running, buckets = 0.0, []
                    for bound, number in zip(bounds, cell[:last], strict=True):
                        running += number
                        buckets.append((bound, running))
                    family.add_metric(labels, buckets, cell[last])
            elif isinstance(family, CounterMetricFamily | GaugeMetricFamily):
                for labels, cell in series.items():
                    family.add_metric(labels, float(cell[0]))
            yield family


_go_float: Callable[[float], str] = floatToGoString
"""How prometheus-client writes a bucket bound in ``le`` (``1.0``, ``2.5``, ``1e+06``)."""


def store(registry: CollectorRegistry, names: Iterable[str]) -> Store:
    """The :class:`Store` of ``registry``, registered on first use, exposing ``names`` too.

    Raises:
        ValueError: ``registry`` already holds a metric of one of ``names`` that agentguard
            did not make (prometheus-client's "Duplicated timeseries").
    """
    wanted = frozenset(n for n in names if n not in BUS_METRICS)
    with _lock:
        found = _stores.get(registry)
        if found is None:
            found = Store(wanted)
            registry.register(found)
            _stores[registry] = found
        elif not wanted <= found.names:
            # Re-registered so that the registry checks the new names against its others.
            old = found.names
            registry.unregister(found)
            found.names = old | wanted
            try:
                registry.register(found)
            except ValueError:
                found.names = old
                registry.register(found)
                raise
        return found


class BusCollector:
    """Exposes the error and drop counts of the buses attached to one registry."""

    def __init__(self, names: Iterable[str]) -> None:
        self._names = frozenset(names)
        self._lock = threading.Lock()
        self._buses: weakref.WeakKeyDictionary[Bus, int] = weakref.WeakKeyDictionary()

    def add(self, bus: Bus) -> None:
        """Count ``bus`` in (once per attachment)."""
        with self._lock:
            self._buses[bus] = self._buses.get(bus, 0) + 1

    def remove(self, bus: Bus) -> None:
        """Undo one :meth:`add`."""
        with self._lock:
            left = self._buses.get(bus, 0) - 1
            if left > 0:
                self._buses[bus] = left
            else:
                self._buses.pop(bus, None)

    def describe(self) -> Iterator[Family]:
        """The families, empty (lets the registry check names at registration)."""
        for metric in (SUBSCRIBER_ERRORS, EVENTS_DROPPED):
            if metric.name in self._names:
                yield metric.prometheus_family()

    def collect(self) -> Iterator[Family]:
        """The counts summed over the attached buses, read now."""
        with self._lock:
            buses = list(self._buses)
        for metric, read in (
            (SUBSCRIBER_ERRORS, Bus.subscriber_errors),
            (EVENTS_DROPPED, Bus.events_dropped),
        ):
            if metric.name not in self._names:
                continue
            total: _Tally[str] = _Tally()
            for bus in buses:
                total.update(read(bus))
            found = metric.prometheus_family()
            assert isinstance(found, CounterMetricFamily)  # both are counters
            for label, count in sorted(total.items()):
                found.add_metric((label,), float(count))
            yield found


def bus_collector(registry: CollectorRegistry, names: Iterable[str]) -> BusCollector:
    """The :class:`BusCollector` of ``registry``, registered on first use.

    The first caller's ``names`` (its allow-list) decides which of the two bus metrics the
    registry exposes.
    """
    with _lock:
        found = _collectors.get(registry)
        if found is None:
            found = BusCollector(name for name in names if name in BUS_METRICS)
            registry.register(found)
            _collectors[registry] = found
        return found
