"""``/metrics``: every metric of the store, agents added up, parsed back and checked by promtool."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import httpx2
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from agentguard.events import BreakerStateChanged
from agentguard.metricmap import METRICS
from agentguard.testing import FakeClock
from agentguard_metrics import MemoryStore, Sketch
from agentguard_service import MetricsService, bucket_counts, create_app
from service import dataset

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def data(clock: FakeClock) -> MemoryStore:
    return dataset.build(clock)


@pytest.fixture
def service(data: MemoryStore, clock: FakeClock) -> Iterator[MetricsService]:
    with MetricsService(create_app(data, clock=clock.time, rate_limit_per_s=None)) as running:
        yield running


def scrape(service: MetricsService, accept: str | None = None) -> httpx2.Response:
    headers = {"Accept": accept} if accept else {}
    return httpx2.get(f"{service.url}/metrics", headers=headers, timeout=10.0)


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def test_every_metric_is_exposed_with_its_own_labels(service: MetricsService) -> None:
    response = scrape(service)
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    for metric in METRICS:
        family = families[metric.base_name]
        assert family.type == metric.type
        assert family.documentation == metric.help
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == set(metric.labels), sample


def test_values_match_the_data_set(service: MetricsService) -> None:
    found = samples(scrape(service).text)
    assert value(found, "agentguard_llm_calls_total", model="sonnet", status="ok") == 2
    assert value(found, "agentguard_llm_calls_total", model="sonnet", status="error") == 1
    assert value(found, "agentguard_llm_calls_total", model="haiku", status="ok") == 1
    assert value(found, "agentguard_llm_tokens_total", model="haiku", token_type="input") == 2000
    tokens = value(found, "agentguard_llm_tokens_total", model="haiku", token_type="cache_write_5m")
    assert tokens == 4000
    cost = value(found, "agentguard_llm_cost_usd_total", model="sonnet", component="input")
    assert cost == pytest.approx(0.75)
    assert value(found, "agentguard_llm_unpriced_calls_total", model="sonnet") == 1
    assert value(found, "agentguard_errors_total", source="tool", kind="timeout") == 1
    assert value(found, "agentguard_runs_total", agent="support", status="ok") == 1
    assert value(found, "agentguard_runs_in_progress", agent="billing") == 1
    assert value(found, "agentguard_runs_in_progress", agent="support") == 0
    assert value(found, "agentguard_breaker_state", breaker="anthropic") == 2
    rejections = value(found, "agentguard_breaker_rejections_total", breaker="anthropic")
    assert rejections == 1
    loops = value(
        found, "agentguard_loop_detections_total", tool="search", pattern="repeat", action="warn"
    )
    assert loops == 1
    assert value(found, "agentguard_events_published_total", kind="llm.call") == 4


def test_histograms_add_agents_up_on_the_metricmap_buckets(service: MetricsService) -> None:
    found = samples(scrape(service).text)
    # search ran 0.5 s for support and 1.5 s for billing: one series once agents are added up
    tool = "agentguard_tool_call_duration_seconds"
    assert value(found, f"{tool}_count", tool="search") == 2
    assert value(found, f"{tool}_sum", tool="search") == pytest.approx(2.0)
    assert value(found, f"{tool}_bucket", tool="search", le="0.25") == 0
    assert value(found, f"{tool}_bucket", tool="search", le="1.0") == 1
    assert value(found, f"{tool}_bucket", tool="search", le="2.5") == 2
    assert value(found, f"{tool}_bucket", tool="search", le="+Inf") == 2
    llm = "agentguard_llm_call_duration_seconds"
    assert value(found, f"{llm}_bucket", model="sonnet", le="0.5") == 0
    assert value(found, f"{llm}_bucket", model="sonnet", le="2.5") == 2
    assert value(found, f"{llm}_bucket", model="sonnet", le="5.0") == 3
    assert value(found, f"{llm}_sum", model="sonnet") == pytest.approx(5.0)
    assert not any(
        name == f"{tool}_count" and ("agent", "support") in labels for name, labels in found
    )


def test_openmetrics_when_asked(service: MetricsService) -> None:
    response = scrape(service, "application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    parsed = openmetrics_families(response.text)  # type: ignore[no-untyped-call]  # untyped parser
    families = {f.name: f for f in parsed}
    calls = families["agentguard_llm_calls"]
    assert calls.type == "counter"
    assert {s.value for s in calls.samples if s.name == "agentguard_llm_calls_total"} == {2, 1}


def test_promtool_accepts_the_exposition(
    service: MetricsService, binary: Callable[[str, str], str]
) -> None:
    promtool = binary("promtool", "prometheus")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=scrape(service).text,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_breaker_set_by_two_agents_shows_its_latest_state(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock.time)
    moves = [("support", "closed", "open"), ("billing", "open", "half_open")]
    dataset.feed(
        store,
        clock,
        [
            BreakerStateChanged(
                breaker="anthropic",
                old_state=old,  # type: ignore[arg-type]  # literal states from the table above
                new_state=new,  # type: ignore[arg-type]
                failure_count=1,
                agent=agent,
                at_unix_s=clock.time() + i,
            )
            for i, (agent, old, new) in enumerate(moves)
        ],
    )
    with MetricsService(create_app(store, rate_limit_per_s=None)) as running:
        found = samples(scrape(running).text)
    assert value(found, "agentguard_breaker_state", breaker="anthropic") == 1  # half-open, once


def test_bucket_counts_from_a_sketch() -> None:
    sketch = Sketch()
    for v in (0.0, 0.2, 0.3, 0.7, 4.0):
        sketch.add(v)
    assert bucket_counts(sketch, (0.1, 0.25, 0.5, 1.0, 10.0)) == [1, 2, 3, 4, 5, 5]
    assert bucket_counts(sketch, (-1.0, 100.0)) == [0, 5, 5]  # min and max are exact
    assert bucket_counts(Sketch(), (1.0,)) == [0, 0]


def test_a_value_on_a_bound_lands_within_the_sketch_accuracy() -> None:
    sketch = Sketch()
    sketch.add(0.5)
    sketch.add(2.0)
    below, at_or_above = bucket_counts(sketch, (0.5 * 0.99, 0.5 * 1.01))[:2]
    assert (below, at_or_above) == (0, 1)  # 1 % from the bound: counted exactly
