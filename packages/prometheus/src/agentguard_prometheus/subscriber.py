"""agentguard events as Prometheus metrics: :class:`PrometheusSubscriber`.

Every metric of :data:`agentguard.metricmap.METRICS` exists in the registry with exactly its
name, type, unit, labels and buckets, moved as :func:`~agentguard.metricmap.effects` says
(``docs/metrics.md``), through compiled handlers into per-thread cells that the registry's one
collector sums when scraped (docs/architecture.md, "The Prometheus subscriber": DESIGN.md P3).
Label values past the caps fold into ``other`` (``agentguard_series_dropped_total``); NaN,
infinite and negative amounts are refused and counted (``agentguard_invalid_values_total``);
the attached buses' error and drop counts are read at scrape time. Example::

    registry = CollectorRegistry()
    PrometheusSubscriber(registry).attach()  # the default bus
    server = start_http_server(9464, registry=registry)  # GET http://127.0.0.1:9464/metrics
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY

from agentguard.bus import Bus, Subscription, default_bus
from agentguard.events import Event
from agentguard.metricmap import METRICS
from agentguard_prometheus._compile import compile_handlers
from agentguard_prometheus._families import bus_collector, store
from agentguard_prometheus._series import SeriesTable

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

__all__ = ["PrometheusSubscriber"]

_NAMES = frozenset(metric.name for metric in METRICS)


class PrometheusSubscriber:
    """Turns the events of a bus into the metrics of :mod:`agentguard.metricmap`.

    Args:
        registry: The prometheus-client registry to create the metrics in; by default
            prometheus-client's global ``REGISTRY``.
        max_label_values: Distinct values kept per label of each metric; later ones fold
            into ``other``.
        max_series: Label combinations kept over all metrics; later ones fold into a series
            whose labels are all ``other`` (one more per metric, at most).
        allow: The names of the metrics to create (every metric when ``None``).
        bus_stats: Whether to expose the error and drop counts of the attached buses.

    Raises:
        ValueError: A cap below 1, or a name in ``allow`` that is not a metric of
            :data:`agentguard.metricmap.METRICS`.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        max_label_values: int = 100,
        max_series: int = 2000,
        allow: Iterable[str] | None = None,
        bus_stats: bool = True,
    ) -> None:
        if max_label_values < 1:
            raise ValueError(
                f"max_label_values must be at least 1, got {max_label_values!r}; "
                "values past the cap fold into 'other', so a cap of 1 keeps one value"
            )
        if max_series < 1:
            raise ValueError(f"max_series must be at least 1, got {max_series!r}")
        if isinstance(allow, str):
            raise TypeError(f"allow takes a collection of metric names, not one string: {allow!r}")
        names = _NAMES if allow is None else frozenset(allow)
        unknown = sorted(names - _NAMES)
        if unknown:
            raise ValueError(
                f"allow names metrics that do not exist: {unknown}; "
                "choose from agentguard.metricmap.METRICS (see docs/metrics.md)"
            )
        self._registry = REGISTRY if registry is None else registry
        self._names = names
        self._bus_stats = bus_stats
        self._store = store(self._registry, names)
        self._table = SeriesTable(
            self._store,
            names,
            max_label_values=max_label_values,
            max_series=max_series,
        )
        self._handlers, self._groups = compile_handlers(self._table)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._attached: dict[Bus, Subscription] = {}

    @property
    def registry(self) -> CollectorRegistry:
        """The registry the metrics live in."""
        return self._registry

    def attach(self, bus: Bus | None = None) -> Subscription:
        """Start turning the events of ``bus`` (the default bus) into metrics.

        Attaching again to a bus this subscriber listens on returns the same subscription
        (events are never counted twice).
        """
        bus = default_bus if bus is None else bus
        with self._lock:
            found = self._attached.get(bus)
            if found is not None:
                if not found.closed:
                    return found
                if self._bus_stats:  # closed from outside: count the bus once again below
                    bus_collector(self._registry, self._names).remove(bus)
            handlers, local, new_state = self._handlers, self._local, self._thread_state

            def on_event(event: Event) -> None:
                try:
                    state = local.state
                except AttributeError:
                    state = new_state()
                handlers[event.__class__](event, state)

            subscription = bus.subscribe(on_event, name="agentguard_prometheus")
            self._attached[bus] = subscription
        if self._bus_stats:
            bus_collector(self._registry, self._names).add(bus)
        return subscription

    def _thread_state(self) -> list[Any]:
        """The calling thread's state, made on its first event: its cells, one cache per group."""
        state: list[Any] = [self._store.thread_cells()]
        state.extend({} for _ in self._groups)
        self._local.state = state
        return state

    def close(self) -> None:
        """Stop listening on every bus. The metrics stay in the registry with their values."""
        with self._lock:
            attached, self._attached = self._attached, {}
        for bus, subscription in attached.items():
            if subscription.closed:
                continue
            subscription.close()
            if self._bus_stats:
                bus_collector(self._registry, self._names).remove(bus)

    def __repr__(self) -> str:
        return f"<PrometheusSubscriber on {len(self._attached)} bus(es)>"
