"""The event-to-metric mapping: complete, consistent, and applied as DESIGN.md section 4 says."""

from __future__ import annotations

import importlib.util
import linecache
import math
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard import _codegen, metricmap
from agentguard.compiler import Group, Source, compile_handler
from agentguard.events import (
    EVENT_TYPES,
    BreakerStateChanged,
    ErrorClassified,
    Event,
    LLMCallFinished,
    PromptCacheUsage,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from agentguard.metricmap import METRICS, RULES, Effect, Rule, effects
from support.events import any_event, generated_code

ROOT = Path(__file__).resolve().parents[2]

# DESIGN.md section 4, name and labels, plus the run-cost histogram issue 6 asks for and the
# billing dimensions of issue 13 (web search cost, thinking, server tools, tier and platform).
DESIGN = {
    "agentguard_llm_cost_incomplete_calls_total": ("model",),
    "agentguard_llm_thinking_tokens_total": ("model",),
    "agentguard_llm_server_tool_requests_total": ("model", "tool"),
    "agentguard_llm_calls_by_service_total": ("provider", "service_tier", "speed", "inference_geo"),
    "agentguard_llm_calls_total": ("model", "status"),
    "agentguard_llm_tokens_total": ("model", "token_type"),
    "agentguard_llm_cost_usd_total": ("model", "component"),
    "agentguard_llm_unpriced_calls_total": ("model",),
    "agentguard_llm_retries_total": ("model",),
    "agentguard_llm_context_tokens": ("model",),
    "agentguard_llm_call_duration_seconds": ("model",),
    "agentguard_llm_time_to_first_token_seconds": ("model",),
    "agentguard_runs_total": ("agent", "status"),
    "agentguard_run_duration_seconds": ("agent",),
    "agentguard_run_cost_usd": ("agent",),
    "agentguard_runs_in_progress": ("agent",),
    "agentguard_tool_calls_total": ("tool", "status"),
    "agentguard_tool_call_duration_seconds": ("tool",),
    "agentguard_prompt_cache_saved_usd_total": ("model",),
    # Beyond section 4 (issue 16): the negative side of the one net saving; see
    # docs/architecture.md, "One definition for each figure".
    "agentguard_prompt_cache_lost_usd_total": ("model",),
    "agentguard_errors_total": ("source", "kind"),
    "agentguard_breaker_state": ("breaker",),
    "agentguard_breaker_transitions_total": ("breaker", "to_state"),
    "agentguard_breaker_rejections_total": ("breaker",),
    "agentguard_loop_detections_total": ("tool", "pattern", "action"),
    "agentguard_budget_exceeded_total": ("scope",),
    "agentguard_alerts_total": ("rule", "state"),
    "agentguard_events_published_total": ("kind",),
    "agentguard_subscriber_errors_total": ("subscriber",),
    "agentguard_events_dropped_total": ("reason",),
    "agentguard_series_dropped_total": ("metric",),
    "agentguard_invalid_values_total": ("field",),
}


def test_the_metrics_are_design_section_4() -> None:
    assert {m.name: m.labels for m in METRICS} == DESIGN


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: m.name)
def test_names_follow_prometheus_conventions(metric: metricmap.Metric) -> None:
    assert re.fullmatch(r"agentguard_[a-z0-9_]+", metric.name)
    assert metric.name.endswith("_total") == (metric.type == "counter")
    if metric.unit:
        assert metric.base_name.endswith(f"_{metric.unit}") or metric.unit == "tokens"
    assert (metric.type == "histogram") == bool(metric.buckets)
    assert list(metric.buckets) == sorted(set(metric.buckets))
    assert metric.help.endswith(")") or metric.help.endswith(".")


def test_every_event_class_has_rules_and_every_rule_a_known_metric() -> None:
    assert set(RULES) == set(EVENT_TYPES)
    known = set(METRICS)
    for rules in RULES.values():
        for rule in rules:
            assert rule.metric in known
            assert (rule.op == "observe") == (rule.metric.type == "histogram")
            assert rule.op != "set" or rule.metric.type == "gauge"


def test_a_rule_needs_one_getter_per_label() -> None:
    with pytest.raises(ValueError, match="needs 2 label getters"):
        metricmap.Rule(metric=metricmap.LLM_CALLS, op="inc", labels=(metricmap.Field("model"),))


def _by_metric(found: tuple[Effect, ...]) -> dict[tuple[str, tuple[str, ...]], tuple[str, float]]:
    return {(e.metric.name, e.labels): (e.op, e.value) for e in found}


def test_an_llm_call_moves_calls_tokens_cost_and_histograms() -> None:
    call = LLMCallFinished(
        model="m",
        input_tokens=10,
        output_tokens=20,
        cache_read_tokens=30,
        cache_write_5m_tokens=40,
        cache_write_1h_tokens=50,
        cost_usd=0.5,
        input_cost_usd=0.1,
        output_cost_usd=0.2,
        cache_read_cost_usd=0.05,
        cache_write_5m_cost_usd=0.05,
        cache_write_1h_cost_usd=0.1,
        duration_s=1.5,
        time_to_first_token_s=None,
        retries=2,
    )
    found = _by_metric(effects(call))
    assert found[("agentguard_events_published_total", ("llm.call",))] == ("inc", 1.0)
    assert found[("agentguard_llm_calls_total", ("m", "ok"))] == ("inc", 1.0)
    assert found[("agentguard_llm_tokens_total", ("m", "cache_write_1h"))] == ("inc", 50.0)
    assert found[("agentguard_llm_cost_usd_total", ("m", "output"))] == ("inc", 0.2)
    assert found[("agentguard_llm_retries_total", ("m",))] == ("inc", 2.0)
    assert found[("agentguard_llm_context_tokens", ("m",))] == ("observe", 130.0)
    assert found[("agentguard_llm_call_duration_seconds", ("m",))] == ("observe", 1.5)
    names = {name for name, _ in found}
    assert "agentguard_llm_time_to_first_token_seconds" not in names, "no TTFT: left out"
    assert "agentguard_llm_unpriced_calls_total" not in names
    assert "agentguard_errors_total" not in names


def test_an_unpriced_failed_call_counts_as_unpriced_and_as_an_error() -> None:
    call = LLMCallFinished(model="x", duration_s=1.0, ok=False, error_kind="rate_limited")
    found = _by_metric(effects(call))
    assert found[("agentguard_llm_unpriced_calls_total", ("x",))] == ("inc", 1.0)
    assert found[("agentguard_errors_total", ("llm", "rate_limited"))] == ("inc", 1.0)
    assert found[("agentguard_llm_calls_total", ("x", "error"))] == ("inc", 1.0)
    assert not any(name == "agentguard_llm_cost_usd_total" for name, _ in found)


def test_runs_go_in_and_out_of_progress() -> None:
    started = _by_metric(effects(RunStarted(agent="a")))
    finished = _by_metric(effects(RunFinished(agent="a", duration_s=2.0, ok=False)))
    assert started[("agentguard_runs_in_progress", ("a",))] == ("inc", 1.0)
    assert finished[("agentguard_runs_in_progress", ("a",))] == ("dec", 1.0)
    assert finished[("agentguard_runs_total", ("a", "error"))] == ("inc", 1.0)


def test_an_event_outside_any_run_has_an_empty_agent_label() -> None:
    found = _by_metric(effects(RunStarted(agent=None)))
    assert ("agentguard_runs_in_progress", ("",)) in found


def test_errors_are_counted_once() -> None:
    tool = ToolCallFinished(tool="t", duration_s=0.1, ok=False, error_kind="timeout")
    about_tool = ErrorClassified(
        source="tool", error_kind="timeout", retryable=True, exception_type="TimeoutError"
    )
    other = ErrorClassified(
        source="other", error_kind="unknown", retryable=False, exception_type="KeyError"
    )
    assert ("agentguard_errors_total", ("tool", "timeout")) in _by_metric(effects(tool))
    assert not any(n == "agentguard_errors_total" for n, _ in _by_metric(effects(about_tool)))
    assert ("agentguard_errors_total", ("other", "unknown")) in _by_metric(effects(other))


@pytest.mark.parametrize(("state", "number"), [("closed", 0), ("half_open", 1), ("open", 2)])
def test_breaker_state_numbers(state: str, number: int) -> None:
    event = BreakerStateChanged(
        breaker="b",
        old_state="closed",
        new_state=state,  # type: ignore[arg-type]  # parametrized
        failure_count=1,
    )
    found = _by_metric(effects(event))
    assert found[("agentguard_breaker_state", ("b",))] == ("set", float(number))
    assert found[("agentguard_breaker_transitions_total", ("b", state))] == ("inc", 1.0)


def test_amounts_are_passed_through_for_the_consumer_to_check_but_negative_savings() -> None:
    event = PromptCacheUsage(
        model="m",
        hit_ratio=0.5,
        read_tokens=1,
        write_tokens=1,
        uncached_tokens=1,
        saved_usd=-0.25,
    )
    found = _by_metric(effects(event))
    assert ("agentguard_prompt_cache_saved_usd_total", ("m",)) not in found
    # The write-only call's negative saving is kept, on the counter of its sign.
    assert found[("agentguard_prompt_cache_lost_usd_total", ("m",))] == ("inc", 0.25)
    nan_call = LLMCallFinished(model="m", duration_s=math.nan)
    (amount,) = (e.value for e in effects(nan_call) if e.metric is metricmap.LLM_DURATION)
    assert math.isnan(amount)


def _docs_generator() -> Callable[[], str]:
    """``markdown`` of docs/gen_metrics.py, the script that writes docs/metrics.md."""
    path = ROOT / "docs" / "gen_metrics.py"
    spec = importlib.util.spec_from_file_location("gen_metrics", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    markdown: Callable[[], str] = module.markdown
    return markdown


def test_the_docs_name_every_metric_and_event() -> None:
    text = _docs_generator()()
    for metric in METRICS:
        assert f"## `{metric.name}`" in text
    for cls in EVENT_TYPES:
        if RULES[cls]:
            assert f"`{cls.kind}` ({cls.__name__})" in text


def test_docs_metrics_md_is_generated_from_the_map() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert text.endswith("\n")
    assert text.rstrip("\n") == _docs_generator()().rstrip("\n"), (
        "run: python docs/gen_metrics.py > docs/metrics.md"
    )


def test_the_facts_every_consumer_reads_off_a_metric() -> None:
    # A store keeps every series by agent too; a metric labelled by agent keeps its labels.
    assert metricmap.LLM_CALLS.series_labels == ("model", "status", "agent")
    assert metricmap.RUNS.series_labels == ("agent", "status")
    # Only the breaker's state is set (last value wins); runs in progress add up.
    assert [m.name for m in METRICS if m.set_by_events] == ["agentguard_breaker_state"]
    assert not metricmap.RUNS_IN_PROGRESS.set_by_events
    assert metricmap.LLM_CALLS.sample_names == ("agentguard_llm_calls_total",)
    assert metricmap.LLM_DURATION.sample_names == (
        "agentguard_llm_call_duration_seconds_bucket",
        "agentguard_llm_call_duration_seconds_count",
        "agentguard_llm_call_duration_seconds_sum",
    )


def test_effects_are_each_rules_effect_in_order() -> None:
    event = LLMCallFinished(model="m", duration_s=1.0, ok=False, error_kind="overloaded")
    by_rules = [e for rule in RULES[LLMCallFinished] if (e := rule.effect(event)) is not None]
    assert list(effects(event)[1:]) == by_rules


class Recorder:
    """A compiler backend that records every update and every refused amount."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, str, tuple[str, ...], str]] = []
        self.refused: list[tuple[str, str, str]] = []

    def includes(self, metric: metricmap.Metric) -> bool:
        return True

    def prologue(self, source: Source) -> list[str]:
        return []

    def key_suffix(self, source: Source) -> tuple[str, ...]:
        return ()

    def suffix(self, event: Event) -> tuple[object, ...]:
        return ()

    def resolve(
        self, state: list[Any], rule: Rule, labels: tuple[str, ...], suffix: tuple[object, ...]
    ) -> tuple[object, bool]:
        def update(amount: float) -> None:
            self.updates.append((rule.metric.name, rule.op, labels, repr(float(amount))))

        return update, True

    def apply(self, source: Source, rule: Rule, target: str) -> list[str]:
        return [f"{target}(amount)"]

    def update(self, target: Any, rule: Rule, amount: float, event: Event) -> None:
        target(amount)

    def invalid(self, rule: Rule, where: str) -> Callable[[object], None]:
        def refuse(amount: object) -> None:
            self.refused.append((rule.metric.name, rule.op, repr(float(amount))))  # type: ignore[arg-type]  # a number

        return refuse


def _recorded(events: list[Event], *, generated: bool) -> Recorder:
    backend, groups = Recorder(), list[Group]()
    with generated_code(generated):
        handlers = {
            cls: compile_handler(cls, rules, backend, groups) for cls, rules in RULES.items()
        }
    state: list[Any] = [None, *({} for _ in groups)]
    for event in events:
        handlers[type(event)](event, state)
    return backend


@settings(max_examples=100, deadline=None)
@given(st.lists(any_event(finite=False), max_size=10))
def test_generated_handlers_do_what_the_effects_say(events: list[Event]) -> None:
    generated = _recorded(events, generated=True)
    interpreted = _recorded(events, generated=False)
    assert generated.updates == interpreted.updates
    assert generated.refused == interpreted.refused
    # Every effect is applied or refused (in the order of the handler's groups, not of RULES).
    every = [(e.metric.name, e.op, e.labels, repr(e.value)) for ev in events for e in effects(ev)]
    assert Counter(generated.updates) <= Counter(every)
    applied = [(name, op, amount) for name, op, _, amount in generated.updates]
    assert Counter(applied + generated.refused) == Counter((n, o, a) for n, o, _, a in every)


def test_generated_code_shows_in_tracebacks_by_event_class() -> None:
    if not _codegen.ENABLED:
        pytest.skip("AGENTGUARD_NO_CODEGEN=1: events keep the dataclass __init__")
    code = LLMCallFinished.__init__.__code__
    assert code.co_filename == "<agentguard __init__ of LLMCallFinished>"
    assert "def __init__(self, *, at_unix_s=_MISSING" in linecache.getline(code.co_filename, 1)


def test_agentguard_no_codegen_runs_the_plain_interpreter() -> None:
    script = (
        "from agentguard import _codegen\n"
        "from agentguard.compiler import compile_handler\n"
        "from agentguard.events import RunStarted\n"
        "from agentguard.metricmap import RULES\n"
        "assert not _codegen.ENABLED\n"
        "assert RunStarted.__init__.__code__.co_filename == '<string>'  # the dataclass's\n"
        "assert RunStarted(agent='a').agent == 'a'\n"
    )
    env = {**os.environ, "AGENTGUARD_NO_CODEGEN": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    with generated_code(False):
        handler = compile_handler(RunStarted, RULES[RunStarted], Recorder(), [])
    assert handler.__name__ == "RunStarted_rules_interpreted"
