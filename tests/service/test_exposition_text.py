"""``/metrics`` as the service writes it equals what prometheus-client writes from StoreCollector.

Byte for byte, in the text format and OpenMetrics, for every kind of metric and the values and
label values that need care; negotiated as prometheus-client negotiates; parsed back by both of
prometheus-client's parsers and checked by promtool. Also ``bucket_counts`` against the walk
over the sketch's values it replaced.
"""

from __future__ import annotations

import math
import subprocess
import uuid
from collections.abc import Callable, Iterator

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from agentguard.metricmap import (
    BREAKER_STATE,
    ERRORS,
    LLM_CALLS,
    LLM_CONTEXT,
    LLM_COST,
    LLM_DURATION,
    LOOP_DETECTIONS,
    METRICS,
    RUN_COST,
    RUNS,
    RUNS_IN_PROGRESS,
    TOOL_DURATION,
)
from agentguard.testing import FakeClock
from agentguard_metrics import DeltaBatch, MemoryStore, Sketch, Store, bucket_start
from agentguard_metrics.batch import GaugeSet
from agentguard_metrics.sketch import mapping_for
from agentguard_redis import RedisStore
from agentguard_service import MetricsService, StoreCollector, bucket_counts, create_app
from agentguard_service._exposition_text import StoreExposition
from service import dataset

AWKWARD = ['say "hi"', "back\\slash", "new\nline", "ünïcødé ✓ 数", "", "trailing\\"]
"""Label values the exposition must escape (or must not)."""
ACCEPTS = [
    None,
    "text/plain; version=0.0.4",
    "text/plain; version=1.0.0; escaping=allow-utf-8",
    "application/openmetrics-text; version=1.0.0; charset=utf-8",
    "application/openmetrics-text",
    "application/openmetrics-text; version=1.0.0; escaping=allow-utf-8",
    "application/json, application/openmetrics-text;version=1.0.0;q=0.9, */*;q=0.1",
    # left to prometheus-client: another escaping, another version
    "application/openmetrics-text; version=1.0.0; escaping=dots",
    "text/plain; version=1.0.0; escaping=values",
    "application/openmetrics-text; version=2.0.0",
]


def expected(store: Store, *, openmetrics: bool = False) -> bytes:
    """What prometheus-client writes from a StoreCollector over ``store``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))
    if openmetrics:
        written: bytes = openmetrics_latest(registry)  # type: ignore[no-untyped-call]  # untyped
        return written
    return generate_latest(registry)


def apply(store: Store, clock: FakeClock, sequence: int, **deltas: object) -> None:
    store.apply(
        DeltaBatch(
            process_id="writer",
            sequence=sequence,
            sent_at_unix_s=clock.time(),
            **deltas,  # type: ignore[arg-type]  # the fields of DeltaBatch, per test
        )
    )


def sketch_of(*values: float, count: int = 1) -> Sketch:
    sketch = Sketch()
    for v in values:
        sketch.add(v, count)
    return sketch


def fill(store: Store, clock: FakeClock, *, negative: bool = True) -> None:
    """Every kind of metric: two agents added up, awkward label values, awkward numbers.

    ``negative``: also a negative counter and negative observations (which OpenMetrics
    parsers refuse in a counter, a ``_sum``).
    """
    at = bucket_start(clock.time())
    counters: dict[tuple[str, tuple[str, ...], int], float] = {}
    for agent in ("support", "billing"):
        for i, value in enumerate(AWKWARD):
            counters[(LLM_CALLS.name, (value, "ok", agent), at)] = i + 1.0
        counters[(LLM_COST.name, ("m", "input", agent), at)] = 0.1
        counters[(LLM_COST.name, ("m", "output", agent), at)] = 0.2
    counters[(LLM_COST.name, ("big", "input", ""), at)] = 1234567.0
    counters[(LLM_COST.name, ("huge", "input", ""), at)] = 2.0**52
    counters[(LLM_COST.name, ("tiny", "input", ""), at)] = 1e-7
    counters[(ERRORS.name, ("tool", "refund", ""), at)] = -3.5 if negative else 3.5
    counters[(RUNS.name, ("support", "ok"), at)] = 2.0
    counters[(LOOP_DETECTIONS.name, ("search", "repeat", "warn", ""), at)] = 1.0
    histograms = {
        (LLM_DURATION.name, ("sonnet", "support"), at): sketch_of(0.04, 0.5, 1.0, 2.5, 119.0),
        (LLM_DURATION.name, ("sonnet", "billing"), at): sketch_of(0.5, 600.0),
        (LLM_DURATION.name, (AWKWARD[0], ""), at): sketch_of(0.0, -1.5 * negative, 0.3),
        (LLM_DURATION.name, ("many", ""), at): sketch_of(0.2, 7.0, count=1_500_000),
        (TOOL_DURATION.name, (AWKWARD[2], ""), at): sketch_of(-2.0, -0.001, 0.0, 0.005)
        if negative
        else sketch_of(0.0, 0.005),
        (LLM_CONTEXT.name, (AWKWARD[3], ""), at): sketch_of(256.0, 1e6, 3e6),
        (RUN_COST.name, ("billing",), at): sketch_of(0.0, 0.0),
    }
    apply(
        store,
        clock,
        1,
        counters=counters,
        histograms=histograms,
        gauge_deltas={
            (RUNS_IN_PROGRESS.name, ("support",)): 2.0,
            (RUNS_IN_PROGRESS.name, (AWKWARD[1],)): -0.0,
        },
        gauge_sets={
            (BREAKER_STATE.name, ("anthropic", "support")): GaugeSet(2.0, clock.time()),
            (BREAKER_STATE.name, ("anthropic", "billing")): GaugeSet(1.0, clock.time() + 1),
            (BREAKER_STATE.name, (AWKWARD[0], "")): GaugeSet(0.0, clock.time()),
        },
    )


class NonFinite(MemoryStore):
    """A memory store whose reads give what a store's floats may hold: NaN and infinities."""

    def counters(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> dict[tuple[str, ...], float]:
        out = super().counters(name, start, end)
        if name == LLM_CALLS.name:
            out |= {("inf", "ok", ""): math.inf, ("nan", "ok", ""): math.nan}
        return out

    def gauges(self, name: str) -> dict[tuple[str, ...], float]:
        out = super().gauges(name)
        if name == RUNS_IN_PROGRESS.name:
            out |= {("nan",): math.nan, ("inf",): math.inf, ("-inf",): -math.inf}
        return out

    def histograms(
        self, name: str, start: float | None = None, end: float | None = None
    ) -> dict[tuple[str, ...], Sketch]:
        out = super().histograms(name, start, end)
        if name == RUN_COST.name:
            overflowed = sketch_of(1.0)
            overflowed.sum = math.inf
            out[("overflowed",)] = overflowed
        return out


@pytest.fixture
def store(clock: FakeClock) -> MemoryStore:
    filled = MemoryStore(clock=clock.time)
    fill(filled, clock)
    return filled


@pytest.fixture
def service(store: MemoryStore) -> Iterator[MetricsService]:
    with MetricsService(create_app(store, rate_limit_per_s=None)) as running:
        yield running


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
@pytest.mark.parametrize("kind", ["awkward", "empty", "dataset", "non-finite"])
def test_the_bytes_are_prometheus_clients(
    kind: str, openmetrics: bool, clock: FakeClock, store: MemoryStore
) -> None:
    if kind == "empty":
        store = MemoryStore(clock=clock.time)
    elif kind == "dataset":
        store = dataset.build(clock)
    elif kind == "non-finite":
        store = NonFinite(clock=clock.time)
        fill(store, clock)
    written = StoreExposition(store).write(openmetrics=openmetrics)
    assert written == expected(store, openmetrics=openmetrics)


def test_the_awkward_store_exposes_what_it_holds(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock.time)
    fill(store, clock, negative=False)
    text = StoreExposition(store).write(openmetrics=False).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    calls = {s.labels["model"]: s.value for s in families["agentguard_llm_calls"].samples}
    assert calls == {value: 2.0 * (i + 1) for i, value in enumerate(AWKWARD)}  # agents added
    assert 'model="new\\nline"' in text and 'model="say \\"hi\\""' in text
    many = {
        s.labels["le"]: s.value
        for s in families["agentguard_llm_call_duration_seconds"].samples
        if s.labels["model"] == "many" and s.name.endswith("_bucket")
    }
    assert many["0.25"] == 1_500_000 and many["+Inf"] == 3_000_000
    assert 'le="+Inf",model="many"} 3e+06\n' in text  # floatToGoString's exponent
    state = families["agentguard_breaker_state"].samples
    assert {s.labels["breaker"]: s.value for s in state}["anthropic"] == 2  # most severe
    parsed = openmetrics_families(  # type: ignore[no-untyped-call]  # untyped parser
        StoreExposition(store).write(openmetrics=True).decode()
    )
    assert {f.name for f in parsed} == {m.base_name for m in METRICS}


def test_non_finite_values_read_as_prometheus_writes_them(clock: FakeClock) -> None:
    store = NonFinite(clock=clock.time)
    text = StoreExposition(store).write(openmetrics=False).decode()
    assert 'agentguard_runs_in_progress{agent="nan"} NaN\n' in text
    assert 'agentguard_runs_in_progress{agent="-inf"} -Inf\n' in text
    assert 'agentguard_run_cost_usd_sum{agent="overflowed"} +Inf\n' in text
    assert 'model="inf"' not in text  # an infinite counter is left out, as StoreCollector does


@pytest.mark.parametrize("accept", ACCEPTS)
def test_content_negotiation_is_prometheus_clients(
    service: MetricsService, store: MemoryStore, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    response = httpx2.get(f"{service.url}/metrics", headers=headers, timeout=10.0)
    encoder, content_type = choose_encoder(accept or "")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == encoder(registry)


@pytest.mark.parametrize("deployment", ["one server", "cluster"])
def test_over_redis_the_bytes_are_prometheus_clients(
    deployment: str, request: pytest.FixtureRequest, clock: FakeClock
) -> None:
    if deployment == "cluster":
        url = request.getfixturevalue("redis_cluster").urls[1]
    else:
        url = request.getfixturevalue("redis_server").url
    store = RedisStore(url, clock=clock.time, prefix=f"expo-{uuid.uuid4().hex}")
    fill(store, clock)
    with (
        MetricsService(create_app(store, rate_limit_per_s=None)) as running,
        httpx2.Client(base_url=running.url, timeout=10.0) as http,
    ):
        text = http.get("/metrics")
        om = http.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert text.content == expected(store)
    assert om.content == expected(store, openmetrics=True)
    assert b'model="new\\nline"' in text.content  # the awkward values made the round trip


def test_a_scrape_after_new_data_is_still_prometheus_clients(
    store: MemoryStore, clock: FakeClock
) -> None:
    exposition = StoreExposition(store)
    first = exposition.write(openmetrics=False)
    clock.advance(60)
    at = bucket_start(clock.time())
    apply(
        store,
        clock,
        2,
        counters={
            (LLM_CALLS.name, ("new-model", "error", "support"), at): 1.0,
            (LLM_CALLS.name, (AWKWARD[0], "ok", "support"), at): 5.0,
        },
        histograms={(TOOL_DURATION.name, ("new-tool", "support"), at): sketch_of(0.1)},
    )
    second = exposition.write(openmetrics=False)
    assert second != first
    assert second == expected(store)
    assert b'model="new-model"' in second and b'tool="new-tool"' in second


def test_promtool_accepts_the_awkward_store(
    store: MemoryStore, binary: Callable[[str, str], str]
) -> None:
    promtool = binary("promtool", "prometheus")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=StoreExposition(store).write(openmetrics=False),
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def walked_counts(sketch: Sketch, bounds: tuple[float, ...]) -> list[int]:
    """``bucket_counts`` as it was: every stored value compared with every bound, in order."""
    mapping = mapping_for(sketch.relative_accuracy)
    ascending = [(-mapping.value(k), n) for k, n in sorted(sketch.negative.items(), reverse=True)]
    if sketch.zero_count:
        ascending.append((0.0, sketch.zero_count))
    ascending += [(mapping.value(k), n) for k, n in sorted(sketch.positive.items())]
    counts: list[int] = []
    seen = i = 0
    for bound in bounds:
        if bound < sketch.min:
            counts.append(0)
        elif bound >= sketch.max:
            counts.append(sketch.count)
        else:
            while i < len(ascending) and ascending[i][0] <= bound:
                seen += ascending[i][1]
                i += 1
            counts.append(seen)
    return [*counts, sketch.count]


_MAPPING = mapping_for(0.005)
_ON_A_BUCKET = st.builds(_MAPPING.value, st.integers(-40, 40))
"""Values a bucket key stands for: where a bound compared by keys could go wrong."""
_NUMBERS = st.one_of(
    _ON_A_BUCKET,
    _ON_A_BUCKET.map(lambda v: -v),
    _ON_A_BUCKET.map(lambda v: math.nextafter(v, math.inf)),
    _ON_A_BUCKET.map(lambda v: -math.nextafter(v, 0.0)),
    st.floats(-1e12, 1e12, allow_nan=False),
    st.just(0.0),
)


@given(
    st.lists(st.tuples(_NUMBERS, st.integers(1, 5)), max_size=30),
    st.sets(st.one_of(_NUMBERS, st.sampled_from([math.inf, -math.inf, 1e308, -1e308, 5e-324]))),
)
def test_bucket_counts_match_the_walk_over_values(
    observed: list[tuple[float, int]], bounds: set[float]
) -> None:
    sketch = Sketch()
    for value, count in observed:
        sketch.add(value, count)
    ordered = tuple(sorted(bounds))
    assert bucket_counts(sketch, ordered) == walked_counts(sketch, ordered)
