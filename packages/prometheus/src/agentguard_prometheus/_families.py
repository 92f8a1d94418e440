"""Where the values live: one :class:`Store` per registry, exposed at scrape time.

**Why not prometheus-client's metric objects.** DESIGN.md P3 allows one ``LLMCallFinished``
through the bus into the subscriber at most 0.2 x one OpenTelemetry SDK span (a GenAI chat
span with a ``BatchSpanProcessor`` costs about 20 us, so about 4 us) and at most 1.2 x the
best hand-written prometheus-client integration. Such an event makes 15 updates, and every
``inc``/``observe`` of a prometheus-client label child takes a mutex: about 0.45 us each,
8.7 us in all (0.43 x a span). So the subscriber keeps its own plain Python numbers and this
module turns them into metric families only when the registry is scraped.

**Per-thread cells, no lock on the hot path.** ``x += a`` on a shared list element is not
atomic across threads (load, add, store: a switch in between loses an update), so no cell is
ever written by two threads. Each thread that publishes gets, per subscriber, its own
:class:`Cells` (created and listed in the store under the store's lock on first use; the
subscriber finds it again through a ``threading.local`` looked up once per event). A *cell*
is a list of floats owned by one thread: ``[value]`` for a counter or gauge, ``[bucket_0, ...,
bucket_n, +Inf bucket, sum]`` for a histogram (per-bucket counts, not cumulative). A cell is
added to its thread's :class:`Cells` under the store lock, which :meth:`Store.collect` holds
while it reads, so a scrape never iterates a dict that grows; reading a float that its owner
is adding to gives the value before or after that add, both correct.

At scrape time :meth:`Store.collect` sums the cells of every thread (counters, gauge deltas,
histogram buckets and sums all merge by addition) and yields Counter/Gauge/HistogramMetricFamily
objects with the names, units, labels and buckets of :mod:`agentguard.metricmap` (a
histogram's buckets cumulative, ``_count`` the ``+Inf`` bucket). The cells of a thread that
has ended are folded into one retired set at the next scrape, so many short-lived threads do
not pile up.

**Shared cells.** A gauge that any rule *sets* (``agentguard_breaker_state``) must be
last-writer-wins across threads, which per-thread sums cannot give; its cells are shared by
every thread and subscriber of the registry and every update to them (set, inc or dec) runs
under the store lock. Breaker transitions are rare. The counts made on slow paths only
(``agentguard_series_dropped_total``, ``agentguard_invalid_values_total``) are shared cells
too.

**One store per registry.** prometheus-client refuses two collectors that expose one name
("Duplicated timeseries"), so every subscriber of a registry writes into the one store of that
registry, registered once (``registry.register``); it exposes the union of their allow-lists
(re-registered when a subscriber adds names, so a clash with a metric somebody else made in
the registry still raises ``ValueError``). The registry is a weak key: a registry that is
dropped takes its store with it.

``agentguard_subscriber_errors_total`` and ``agentguard_events_dropped_total`` are the bus's
own counts, read at scrape time by :class:`BusCollector` (one per registry, summing over the
buses attached to it).
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
                yield _family(metric)

    def collect(self) -> Iterator[Family]:
        """Every family of :attr:`names`, the cells of every thread summed now."""
        total = self._totals()
        for metric in METRICS:
            if metric.name not in self.names:
                continue
            series = total.get(metric.name, {})
            family = _family(metric)
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


def _family(metric: Metric) -> Family:
    """An empty family for ``metric``, exposed with exactly the map's name."""
    family: Family
    if metric.type == "counter":
        family = CounterMetricFamily(
            metric.base_name, metric.help, labels=metric.labels, unit=metric.unit
        )
        exposed = family.name + "_total"
    elif metric.type == "gauge":
        family = GaugeMetricFamily(metric.name, metric.help, labels=metric.labels, unit=metric.unit)
        exposed = family.name
    else:
        family = HistogramMetricFamily(
            metric.name, metric.help, labels=metric.labels, unit=metric.unit
        )
        exposed = family.name
    assert exposed == metric.name, f"{metric.name} would be exposed as {exposed}"
    return family


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

    def describe(self) -> Iterator[CounterMetricFamily]:
        """The families, empty (lets the registry check names at registration)."""
        for metric in (SUBSCRIBER_ERRORS, EVENTS_DROPPED):
            if metric.name in self._names:
                yield CounterMetricFamily(
                    metric.base_name, metric.help, labels=metric.labels, unit=metric.unit
                )

    def collect(self) -> Iterator[CounterMetricFamily]:
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
            found = CounterMetricFamily(
                metric.base_name, metric.help, labels=metric.labels, unit=metric.unit
            )
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
