from __future__ import annotations

import gc
import logging
import math
import traceback
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agentguard import Bus
from agentguard.events import (
    BreakerState,
    BreakerStateChanged,
    Event,
    LLMCallFinished,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from agentguard.metricmap import METRICS, effects
from agentguard.testing import StrictBus
from agentguard_prometheus import PrometheusSubscriber
from support.events import any_event, generated_code


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def series(registry: CollectorRegistry, name: str) -> int:
    """Label combinations of ``name`` in the registry (a histogram counts once)."""
    for family in registry.collect():
        if family.name == name.removesuffix("_total"):
            return len(
                {
                    tuple(sorted(s.labels.items()))
                    for s in family.samples
                    if s.name in (name, family.name + "_count")
                }
            )
    return 0


def test_llm_call_moves_every_llm_metric(
    registry: CollectorRegistry,
    bus: Bus,
    subscriber: PrometheusSubscriber,
    llm_call: LLMCallFinished,
) -> None:
    bus.publish(llm_call)
    m = "claude-sonnet-4-5"
    assert value(registry, "agentguard_llm_calls_total", model=m, status="ok") == 1.0
    assert value(registry, "agentguard_llm_tokens_total", model=m, token_type="input") == 100
    assert value(registry, "agentguard_llm_tokens_total", model=m, token_type="cache_read") == 900
    assert (
        value(registry, "agentguard_llm_tokens_total", model=m, token_type="cache_write_5m") == 50
    )
    assert value(registry, "agentguard_llm_cost_usd_total", model=m, component="output") == 0.004
    assert value(registry, "agentguard_llm_unpriced_calls_total", model=m) is None
    assert value(registry, "agentguard_llm_retries_total", model=m) == 2
    assert value(registry, "agentguard_llm_context_tokens_sum", model=m) == 1050
    assert value(registry, "agentguard_llm_call_duration_seconds_bucket", model=m, le="2.5") == 1
    assert value(registry, "agentguard_llm_call_duration_seconds_bucket", model=m, le="1.0") == 0
    assert value(registry, "agentguard_llm_time_to_first_token_seconds_sum", model=m) == 0.4
    assert value(registry, "agentguard_events_published_total", kind="llm.call") == 1


def test_failed_unpriced_llm_call_counts_error_and_unpriced(
    registry: CollectorRegistry, bus: Bus, subscriber: PrometheusSubscriber
) -> None:
    bus.publish(LLMCallFinished(model="x", duration_s=0.1, ok=False, error_kind="rate_limited"))
    assert value(registry, "agentguard_llm_calls_total", model="x", status="error") == 1
    assert value(registry, "agentguard_llm_unpriced_calls_total", model="x") == 1
    assert value(registry, "agentguard_errors_total", source="llm", kind="rate_limited") == 1
    assert value(registry, "agentguard_llm_cost_usd_total", model="x", component="input") is None
    assert value(registry, "agentguard_llm_time_to_first_token_seconds_count", model="x") is None


def test_every_kind_matches_the_metric_map(
    registry: CollectorRegistry,
    bus: Bus,
    subscriber: PrometheusSubscriber,
    every_kind: tuple[Event, ...],
) -> None:
    for event in every_kind:
        bus.publish(event)
    expected: dict[tuple[str, tuple[str, ...]], float] = {}
    for event in every_kind:
        for effect in effects(event):
            name = effect.metric.name
            if effect.metric.type == "histogram":
                name += "_sum"
            key = (name, effect.labels)
            sign = -1 if effect.op == "dec" else 1
            if effect.op == "set":
                expected[key] = effect.value
            else:
                expected[key] = expected.get(key, 0.0) + sign * effect.value
    by_name = {m.name: m for m in METRICS}
    for (name, labels), want in expected.items():
        metric = by_name[name.removesuffix("_sum")]
        got = registry.get_sample_value(name, dict(zip(metric.labels, labels, strict=True)))
        assert got == pytest.approx(want), (name, labels)
    assert value(registry, "agentguard_tool_calls_total", tool="search", status="error") == 1
    assert value(registry, "agentguard_errors_total", source="tool", kind="timeout") == 1
    assert value(registry, "agentguard_errors_total", source="other", kind="internal") == 1
    assert (
        value(registry, "agentguard_prompt_cache_saved_usd_total", model="claude-sonnet-4-5")
        == 0.02
    )
    assert value(registry, "agentguard_breaker_rejections_total", breaker="anthropic") == 1
    assert (
        value(
            registry,
            "agentguard_loop_detections_total",
            tool="search",
            pattern="repeat",
            action="stop",
        )
        == 1
    )
    assert value(registry, "agentguard_budget_exceeded_total", scope="run") == 1
    assert value(registry, "agentguard_alerts_total", rule="error_rate", state="firing") == 1
    assert value(registry, "agentguard_events_published_total", kind="cache.regressed") == 1


def test_breaker_state_follows_the_breaker(
    registry: CollectorRegistry, bus: Bus, subscriber: PrometheusSubscriber
) -> None:
    steps: tuple[tuple[BreakerState, BreakerState, int], ...] = (
        ("closed", "open", 2),
        ("open", "half_open", 1),
        ("half_open", "closed", 0),
    )
    for old, new, number in steps:
        bus.publish(
            BreakerStateChanged(breaker="db", old_state=old, new_state=new, failure_count=0)
        )
        assert value(registry, "agentguard_breaker_state", breaker="db") == number
    assert (
        value(registry, "agentguard_breaker_transitions_total", breaker="db", to_state="open") == 1
    )


def test_runs_in_progress_returns_to_zero_after_failed_runs(
    registry: CollectorRegistry, bus: Bus, subscriber: PrometheusSubscriber
) -> None:
    bus.publish(RunStarted(agent="a"))
    bus.publish(RunStarted(agent="a"))
    assert value(registry, "agentguard_runs_in_progress", agent="a") == 2
    bus.publish(RunFinished(agent="a", duration_s=1.0, ok=False, error_kind="cancelled"))
    bus.publish(RunFinished(agent="a", duration_s=1.0, ok=True))
    assert value(registry, "agentguard_runs_in_progress", agent="a") == 0
    assert value(registry, "agentguard_runs_total", agent="a", status="error") == 1


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -1.0, 1e308, 2e9])
def test_invalid_amounts_never_reach_a_metric(
    registry: CollectorRegistry,
    bus: Bus,
    subscriber: PrometheusSubscriber,
    bad: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="agentguard.prometheus"):
        for _ in range(3):
            bus.publish(
                LLMCallFinished(model="m", duration_s=bad, input_cost_usd=bad, cost_usd=1.0)
            )
    assert value(registry, "agentguard_llm_call_duration_seconds_count", model="m") is None
    assert value(registry, "agentguard_llm_cost_usd_total", model="m", component="input") is None
    assert (
        value(
            registry,
            "agentguard_invalid_values_total",
            field="agentguard_llm_call_duration_seconds",
        )
        == 3
    )
    assert (
        value(registry, "agentguard_invalid_values_total", field="agentguard_llm_cost_usd_total")
        == 3
    )
    assert value(registry, "agentguard_llm_calls_total", model="m", status="ok") == 3
    assert len([r for r in caplog.records if "call_duration" in r.getMessage()]) == 1
    assert bus.subscriber_errors() == {}


def test_label_values_fold_into_other_past_the_cap(registry: CollectorRegistry, bus: Bus) -> None:
    PrometheusSubscriber(registry, max_label_values=3).attach(bus)
    for i in range(5):
        bus.publish(ToolCallFinished(tool=f"t{i}", duration_s=0.1))
    assert value(registry, "agentguard_tool_calls_total", tool="t2", status="ok") == 1
    assert value(registry, "agentguard_tool_calls_total", tool="t3", status="ok") is None
    assert value(registry, "agentguard_tool_calls_total", tool="other", status="ok") == 2
    assert (
        value(registry, "agentguard_series_dropped_total", metric="agentguard_tool_calls_total")
        == 2
    )


def test_series_cap_bounds_all_metrics(registry: CollectorRegistry, bus: Bus) -> None:
    PrometheusSubscriber(registry, max_series=5).attach(bus)
    for i in range(50):
        bus.publish(ToolCallFinished(tool=f"t{i}", duration_s=0.1))
    made = series(registry, "agentguard_tool_calls_total") + series(
        registry, "agentguard_tool_call_duration_seconds"
    )
    assert made <= 5 + 2
    total = sum(
        value(registry, "agentguard_tool_calls_total", tool=t, status=s) or 0.0
        for t in [*(f"t{i}" for i in range(50)), "other"]
        for s in ("ok", "other")
    )
    assert total == 50


def test_100k_tool_names_keep_series_at_the_cap_and_memory_flat(
    registry: CollectorRegistry, bus: Bus
) -> None:
    PrometheusSubscriber(registry).attach(bus)

    def batch(start: int) -> None:
        for i in range(start, start + 50_000):
            bus.publish(ToolCallFinished(tool=f"tool-{i}", duration_s=0.01))

    batch(0)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    batch(50_000)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert series(registry, "agentguard_tool_calls_total") == 101
    assert series(registry, "agentguard_tool_call_duration_seconds") == 101
    assert value(registry, "agentguard_tool_calls_total", tool="other", status="ok") == 99_900
    assert grown < 100_000, f"memory grew by {grown} bytes over 50,000 new tool names"


def test_attaching_twice_and_two_subscribers_on_one_registry(
    registry: CollectorRegistry, bus: Bus
) -> None:
    first = PrometheusSubscriber(registry)
    assert first.attach(bus) is first.attach(bus)
    second = PrometheusSubscriber(registry)
    other_bus = Bus()
    second.attach(other_bus)
    bus.publish(ToolCallFinished(tool="a", duration_s=0.1))
    other_bus.publish(ToolCallFinished(tool="a", duration_s=0.1))
    assert value(registry, "agentguard_tool_calls_total", tool="a", status="ok") == 2
    first.close()
    first.close()
    bus.publish(ToolCallFinished(tool="a", duration_s=0.1))
    assert value(registry, "agentguard_tool_calls_total", tool="a", status="ok") == 2
    PrometheusSubscriber(registry).attach(bus)


def test_one_bus_into_two_registries(bus: Bus) -> None:
    one, two = CollectorRegistry(), CollectorRegistry()
    PrometheusSubscriber(one).attach(bus)
    PrometheusSubscriber(two, allow={"agentguard_tool_calls_total"}).attach(bus)
    bus.publish(ToolCallFinished(tool="a", duration_s=0.1))
    for registry in (one, two):
        assert value(registry, "agentguard_tool_calls_total", tool="a", status="ok") == 1
    assert value(one, "agentguard_tool_call_duration_seconds_count", tool="a") == 1
    assert value(two, "agentguard_tool_call_duration_seconds_count", tool="a") is None


def test_bus_errors_and_drops_are_read_at_scrape_time(
    registry: CollectorRegistry, bus: Bus, subscriber: PrometheusSubscriber
) -> None:
    def broken(event: object) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken, name="broken")
    bus.publish(RunStarted(agent="a"))
    assert value(registry, "agentguard_subscriber_errors_total", subscriber="broken") == 1
    bus.publish(RunStarted(agent="a"))
    assert value(registry, "agentguard_subscriber_errors_total", subscriber="broken") == 2
    assert value(registry, "agentguard_runs_in_progress", agent="a") == 2


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_label_values": 0}, ValueError),
        ({"max_series": -1}, ValueError),
        ({"allow": {"agentguard_llm_calls_total", "agentguard_nope"}}, ValueError),
        ({"allow": "agentguard_llm_calls_total"}, TypeError),
    ],
)
def test_misconfiguration_fails_at_construction(
    registry: CollectorRegistry, kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        PrometheusSubscriber(registry, **kwargs)  # type: ignore[arg-type]


def test_awkward_label_values_round_trip(
    registry: CollectorRegistry, bus: Bus, subscriber: PrometheusSubscriber
) -> None:
    awkward = 'say "hi" \\ back\nslash\\n — ünïcødé 工具 🔧'
    bus.publish(ToolCallFinished(tool=awkward, duration_s=0.1))
    text = generate_latest(registry).decode()
    found = [
        sample.labels["tool"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "agentguard_tool_calls_total"
    ]
    assert found == [awkward]


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


@settings(max_examples=75, deadline=None)
@given(st.lists(any_event(finite=False), max_size=25))
def test_generated_updates_equal_the_interpreter(events: list[Event]) -> None:
    # Small caps, so folding into "other" is compared too; NaN and infinite amounts, so refusals.
    bus = StrictBus()
    registries = []
    for enabled in (True, False):
        registry = CollectorRegistry()
        with generated_code(enabled):
            subscriber = PrometheusSubscriber(registry, max_label_values=3, max_series=12)
        subscriber.attach(bus)
        registries.append(registry)
    for event in events:
        bus.publish(event)
    generated, interpreted = (_samples(registry) for registry in registries)
    assert generated.keys() == interpreted.keys()
    for key, number in generated.items():
        assert number == interpreted[key] or (math.isnan(number) and math.isnan(interpreted[key]))


def test_a_traceback_from_generated_code_names_the_event_class_and_the_rule() -> None:
    with generated_code(True):
        subscriber = PrometheusSubscriber(CollectorRegistry())
    bus = StrictBus()
    subscriber.attach(bus)
    wrong = LLMCallFinished(model="m", duration_s=1.0, input_tokens="12")  # type: ignore[arg-type]  # the catalog does not check at runtime
    with pytest.raises(TypeError) as info:
        bus.publish(wrong)
    text = "".join(traceback.format_exception(info.value))
    assert 'File "<agentguard rules for LLMCallFinished>"' in text
    assert "in LLMCallFinished_rules" in text
    # the generated line itself, which ends with the rule it applies
    rule = 'agentguard_llm_tokens_total{model=`model`, token_type="input"} inc `input_tokens`'
    assert rule in text
