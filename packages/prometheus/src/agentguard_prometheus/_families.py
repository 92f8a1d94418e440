"""The prometheus-client metric objects of :data:`agentguard.metricmap.METRICS`, once per registry.

prometheus-client refuses a second metric of the same name in one registry ("Duplicated
timeseries"), so the objects are created at most once per registry and shared by every
subscriber that uses it. The registry is a weak key: a registry that is dropped takes its
metrics with it.

``agentguard_subscriber_errors_total`` and ``agentguard_events_dropped_total`` are the bus's
own counts, read at scrape time by :class:`BusCollector` (one per registry, summing over the
buses attached to it).
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter as _Tally
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily

from agentguard.bus import Bus
from agentguard.metricmap import EVENTS_DROPPED, SUBSCRIBER_ERRORS, Metric

if TYPE_CHECKING:
    from prometheus_client.metrics import MetricWrapperBase
    from prometheus_client.registry import CollectorRegistry

__all__ = ["BUS_METRICS", "BusCollector", "bus_collector", "metric_object"]

BUS_METRICS = frozenset({SUBSCRIBER_ERRORS.name, EVENTS_DROPPED.name})
"""The metrics read from the bus at scrape time rather than moved by events."""

_lock = threading.Lock()
_objects: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, MetricWrapperBase]] = (
    weakref.WeakKeyDictionary()
)
_collectors: weakref.WeakKeyDictionary[CollectorRegistry, BusCollector] = (
    weakref.WeakKeyDictionary()
)


def metric_object(metric: Metric, registry: CollectorRegistry) -> MetricWrapperBase:
    """The prometheus-client object for ``metric`` in ``registry``, created on first use.

    Raises:
        ValueError: ``registry`` already holds a metric of that name that agentguard did not
            create (prometheus-client's "Duplicated timeseries").
    """
    with _lock:
        made = _objects.setdefault(registry, {})
        found = made.get(metric.name)
        if found is None:
            found = made[metric.name] = _create(metric, registry)
        return found


def _create(metric: Metric, registry: CollectorRegistry) -> MetricWrapperBase:
    common = {
        "documentation": metric.help,
        "labelnames": metric.labels,
        "registry": registry,
        # prometheus-client appends the unit to a name that does not end with it; every name of
        # the map already ends with its unit, so passing it only adds the OpenMetrics UNIT line.
        "unit": metric.unit,
    }
    made: MetricWrapperBase
    if metric.type == "counter":
        made = Counter(metric.base_name, **common)  # type: ignore[arg-type]  # kwargs of mixed types
    elif metric.type == "gauge":
        made = Gauge(metric.name, **common)  # type: ignore[arg-type]  # same
    else:
        made = Histogram(metric.name, buckets=metric.buckets, **common)  # type: ignore[arg-type]  # same
    exposed = made._name + (
        "_total" if metric.type == "counter" else ""
    )  # the name prometheus-client built
    assert exposed == metric.name, f"{metric.name} would be exposed as {exposed}"
    return made


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
