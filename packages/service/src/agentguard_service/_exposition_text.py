"""``/metrics`` written straight from the store's reads, as prometheus-client would write it.

:class:`StoreExposition` gives the text format (0.0.4) and OpenMetrics 1.0 byte for byte as
``generate_latest`` writes them from :class:`~agentguard_service.exposition.StoreCollector`
(tests/service/test_exposition_text.py compares them), without families and samples: each
series' sample names and labels are formatted once and kept while it is exposed, the headers
are prometheus-client's own, values go through its ``floatToGoString``. Whatever else an
``Accept`` header chooses (OpenMetrics 2.0, the ``dots`` or ``values`` escaping) is left to
prometheus-client over a ``StoreCollector``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics_exposition
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from agentguard.metricmap import METRICS, Metric
from agentguard_metrics.store import Store
from agentguard_service.exposition import (
    StoreCollector,
    bucket_counts,
    read_sketches,
    read_values,
)

if TYPE_CHECKING:
    from prometheus_client.core import Metric as Family

__all__ = ["StoreExposition"]

_go_float: Callable[[float], str] = floatToGoString
_OPENMETRICS = "application/openmetrics-text"
_PLAIN_ESCAPINGS = frozenset({openmetrics_exposition.UNDERSCORES, openmetrics_exposition.ALLOWUTF8})
"""Escapings that leave this module's names as they are (every name is a legacy one)."""
_PLAIN_COUNTS_BELOW = 1_000_000
"""Counts below this are written ``f"{n}.0"``, what ``floatToGoString(float(n))`` gives."""

Labels = tuple[str, ...]


class _Family(Collector):
    """One family, for prometheus-client to write its header."""

    def __init__(self, family: Family) -> None:
        self._family = family

    def collect(self) -> Iterator[Family]:
        yield self._family


@dataclass(frozen=True, slots=True)
class _Shape:
    """What never changes between scrapes for one metric: headers and label layout."""

    metric: Metric
    text_header: str
    openmetrics_header: str
    bounds: tuple[str, ...]
    """A histogram's ``le`` values, ``+Inf`` last."""
    with_sum: bool
    """Whether a histogram has ``_count`` and ``_sum`` (prometheus-client leaves them out
    when the first bound is negative)."""


def _shape(metric: Metric) -> _Shape:
    family = _Family(metric.prometheus_family())
    text = generate_latest(family).decode()
    om: bytes = openmetrics_exposition.generate_latest(family)  # type: ignore[no-untyped-call]  # untyped
    bounds = (*(_go_float(b) for b in metric.buckets), "+Inf")
    return _Shape(
        metric=metric,
        text_header=text,
        openmetrics_header=om.decode().removesuffix("# EOF\n"),
        bounds=bounds,
        with_sum=float(bounds[0]) >= 0,
    )


def _escape(value: str) -> str:
    """A label value as both formats quote it (prometheus-client's ``allow-utf-8`` escape)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(pairs: list[tuple[str, str]]) -> str:
    """``{a="x",b="y"}`` in label-name order, as prometheus-client sorts them; or nothing."""
    if not pairs:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in sorted(pairs)) + "}"


def _prefixes(shape: _Shape, labels: Labels) -> tuple[str, ...]:
    """The start of each sample line of one series, up to and with the space before the value.

    A counter or a gauge has one; a histogram one per bucket, then ``_count`` and ``_sum``.
    """
    metric = shape.metric
    pairs = list(zip(metric.labels, labels, strict=True))
    if metric.type != "histogram":
        return (f"{metric.name}{_labels(pairs)} ",)
    lines = [f"{metric.name}_bucket{_labels([*pairs, ('le', le)])} " for le in shape.bounds]
    if shape.with_sum:
        own = _labels(pairs)
        lines += [f"{metric.name}_count{own} ", f"{metric.name}_sum{own} "]
    return tuple(lines)


def _counts(counts: list[int], most: int) -> list[str]:
    """Each count (0 to ``most``) as ``floatToGoString(float(n))`` writes it, then a newline."""
    if most < _PLAIN_COUNTS_BELOW:
        return [f"{n}.0\n" for n in counts]
    return [f"{_go_float(float(n))}\n" for n in counts]


class StoreExposition:
    """Every metric of ``store`` in the format an ``Accept`` header asks, fast.

    Safe to call from several threads at once: a scrape builds its own table of line starts
    and replaces the shared one when it ends (a race only loses that table to the other).
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._shapes = [_shape(metric) for metric in METRICS]
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(StoreCollector(store))
        self._prefixes: dict[tuple[str, Labels], tuple[str, ...]] = {}

    def render(self, accept: str) -> tuple[bytes, str]:
        """The body and its ``Content-Type`` for a request's ``Accept`` header.

        The content negotiation is prometheus-client's ``choose_encoder``.
        """
        encoder, content_type = choose_encoder(accept)
        media, *parameters = (part.strip() for part in content_type.split(";"))
        given = {name: value for name, _, value in (p.partition("=") for p in parameters)}
        escaping = given.get("escaping", openmetrics_exposition.UNDERSCORES)
        if escaping not in _PLAIN_ESCAPINGS:
            return encoder(self._registry), content_type
        if media == _OPENMETRICS:
            if given.get("version") != "1.0.0":
                return encoder(self._registry), content_type
            return self.write(openmetrics=True), content_type
        return self.write(openmetrics=False), content_type

    def write(self, *, openmetrics: bool) -> bytes:
        """Every metric, read from the store now, as OpenMetrics 1.0 or the text format."""
        known = self._prefixes
        fresh: dict[tuple[str, Labels], tuple[str, ...]] = {}
        out: list[str] = []
        for shape in self._shapes:
            metric = shape.metric
            out.append(shape.openmetrics_header if openmetrics else shape.text_header)
            if metric.type == "histogram":
                for labels, sketch in read_sketches(self._store, metric):
                    key = (metric.name, labels)
                    starts = fresh[key] = known.get(key) or _prefixes(shape, labels)
                    values = _counts(bucket_counts(sketch, metric.buckets), sketch.count)
                    if shape.with_sum:
                        values += [values[-1], f"{_go_float(sketch.sum)}\n"]
                    out += map(str.__add__, starts, values)
            else:
                for labels, value in read_values(self._store, metric):
                    key = (metric.name, labels)
                    starts = fresh[key] = known.get(key) or _prefixes(shape, labels)
                    out.append(f"{starts[0]}{_go_float(value)}\n")
        self._prefixes = fresh
        if openmetrics:
            out.append("# EOF\n")
        return "".join(out).encode()
