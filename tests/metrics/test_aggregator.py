"""The aggregator: deltas by the one mapping, failures kept and retried once, bounded, threads."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard import Bus, run_context
from agentguard.events import (
    AlertStateChanged,
    BreakerRejected,
    BreakerState,
    BreakerStateChanged,
    BudgetExceeded,
    ErrorClassified,
    Event,
    LLMCallFinished,
    LoopDetected,
    PromptCacheUsage,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from agentguard.metricmap import effects
from agentguard.testing import FakeClock
from agentguard_metrics import Aggregator, DeltaBatch, MemoryStore, Sketch
from support.events import any_event, generated_code

T0 = 1_767_225_600.0
CALLS = "agentguard_llm_calls_total"
TOOLS = "agentguard_tool_calls_total"
RUNNING = "agentguard_runs_in_progress"


class Recording(MemoryStore):
    """A memory store that keeps the batches it is given and fails ``fail`` times first.

    With ``lost_reply``, a failing call applies the batch before raising, as when a reply is lost.
    """

    def __init__(self, fail: int = 0, *, lost_reply: bool = False) -> None:
        super().__init__(clock=lambda: T0)
        self.batches: list[DeltaBatch] = []
        self.fail = fail
        self.lost_reply = lost_reply

    def apply(self, batch: DeltaBatch) -> None:
        if self.fail > 0:
            self.fail -= 1
            if self.lost_reply:
                super().apply(batch)
            raise ConnectionError("store down")
        self.batches.append(batch)
        super().apply(batch)


def every_kind(at: float = T0) -> list[Event]:
    return [
        RunStarted(agent="a", at_unix_s=at),
        LLMCallFinished(
            model="m",
            input_tokens=10,
            output_tokens=5,
            cache_read_tokens=100,
            cost_usd=0.01,
            input_cost_usd=0.004,
            output_cost_usd=0.006,
            cache_read_cost_usd=0.0,
            cache_write_5m_cost_usd=0.0,
            cache_write_1h_cost_usd=0.0,
            duration_s=1.5,
            time_to_first_token_s=0.3,
            retries=1,
            at_unix_s=at,
        ),
        LLMCallFinished(model="m", duration_s=0.2, ok=False, error_kind="rate_limit", at_unix_s=at),
        ToolCallFinished(tool="t", duration_s=0.05, ok=False, error_kind="timeout", at_unix_s=at),
        PromptCacheUsage(
            model="m",
            hit_ratio=0.9,
            read_tokens=100,
            write_tokens=0,
            uncached_tokens=10,
            saved_usd=0.02,
            at_unix_s=at,
        ),
        ErrorClassified(
            source="other",
            error_kind="x",
            retryable=False,
            exception_type="E",
            at_unix_s=at,
        ),
        BreakerStateChanged(
            breaker="b", old_state="closed", new_state="open", failure_count=3, at_unix_s=at
        ),
        BreakerRejected(breaker="b", at_unix_s=at),
        LoopDetected(tool="t", pattern="repeat", repeats=3, action="warn", at_unix_s=at),
        BudgetExceeded(scope="run", limit_usd=1.0, spent_usd=1.5, at_unix_s=at),
        AlertStateChanged(rule="r", state="firing", value=1.0, at_unix_s=at),
        RunFinished(agent="a", duration_s=3.0, ok=True, at_unix_s=at + 61),
    ]


def test_deltas_are_the_effects_of_the_mapping() -> None:
    store = Recording()
    aggregator = Aggregator(store, process_id="p")
    events = every_kind()
    for event in events:
        aggregator.record(event)
    assert aggregator.flush(1.0)
    (batch,) = store.batches

    counters: dict[tuple[str, tuple[str, ...], int], float] = defaultdict(float)
    observed: dict[tuple[str, tuple[str, ...], int], list[float]] = defaultdict(list)
    gauges: dict[tuple[str, tuple[str, ...]], float] = defaultdict(float)
    sets: dict[tuple[str, tuple[str, ...]], float] = {}
    for event in events:
        bucket = int(event.at_unix_s // 60) * 60
        for e in effects(event):
            # every series is kept by agent too (the event's, "" outside a run)
            labels = e.labels if "agent" in e.metric.labels else (*e.labels, event.agent or "")
            if e.op == "inc" and e.metric.type == "counter":
                counters[(e.metric.name, labels, bucket)] += e.value
            elif e.op == "observe":
                observed[(e.metric.name, labels, bucket)].append(e.value)
            elif e.op == "set":
                sets[(e.metric.name, labels)] = e.value
            else:
                gauges[(e.metric.name, labels)] += e.value if e.op == "inc" else -e.value

    assert dict(batch.counters) == dict(counters)
    assert {k: (s.count, s.sum) for k, s in batch.histograms.items()} == {
        k: (len(v), sum(v)) for k, v in observed.items()
    }
    assert dict(batch.gauge_deltas) == dict(gauges)
    assert {k: g.value for k, g in batch.gauge_sets.items()} == sets
    assert batch.batch_id == "p:1" and batch.process_id == "p"


def _batch_of(events: list[Event], *, generated: bool) -> DeltaBatch:
    store = Recording()
    with generated_code(generated):
        aggregator = Aggregator(
            store, process_id="p", clock=lambda: T0, interval_s=None, max_label_values=3
        )
    for event in events:
        aggregator.record(event)
    assert aggregator.flush(1.0)
    (batch,) = store.batches or [DeltaBatch(process_id="p", sequence=1, sent_at_unix_s=T0)]
    return batch


def _sketches(batch: DeltaBatch) -> dict[object, tuple[object, ...]]:
    return {
        key: (s.count, s.sum, s.min, s.max, s.zero_count, s.positive, s.negative)
        for key, s in batch.histograms.items()
    }


@settings(max_examples=75, deadline=None)
@given(st.lists(any_event(finite=False, at_unix_s=st.floats(T0, T0 + 600)), max_size=25))
def test_generated_deltas_equal_the_interpreter(events: list[Event]) -> None:
    # NaN and infinite amounts, so refusals are compared; three values per label, so folds.
    generated = _batch_of(events, generated=True)
    interpreted = _batch_of(events, generated=False)
    assert dict(generated.counters) == dict(interpreted.counters)
    assert _sketches(generated) == _sketches(interpreted)
    assert dict(generated.gauge_deltas) == dict(interpreted.gauge_deltas)
    assert dict(generated.gauge_sets) == dict(interpreted.gauge_sets)


def test_a_failing_store_keeps_the_deltas_and_gets_them_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Recording(fail=3)
    aggregator = Aggregator(store, process_id="p")
    bus = Bus()
    aggregator.attach(bus)
    with caplog.at_level(logging.WARNING, logger="agentguard_metrics"):
        for round_ in range(3):
            for _ in range(10):
                bus.publish(LLMCallFinished(model="m", duration_s=1.0, at_unix_s=T0 + round_))
            assert aggregator.flush(1.0) is False  # never raises
    assert aggregator.failed_flushes == 3
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # once per episode
    assert aggregator.held_series > 0
    assert aggregator.flush(1.0) is True
    assert store.counter(CALLS) == 30.0
    assert [b.batch_id for b in store.batches] == ["p:1", "p:2"]  # the kept one, then the rest
    assert aggregator.flush(1.0) is True
    assert store.counter(CALLS) == 30.0
    assert aggregator.held_series == 0


def test_a_batch_whose_reply_was_lost_counts_once() -> None:
    store = Recording(fail=2, lost_reply=True)
    aggregator = Aggregator(store, process_id="p")
    aggregator.record(LLMCallFinished(model="m", duration_s=1.0, at_unix_s=T0))
    assert not aggregator.flush(1.0)  # applied, but the reply was lost
    aggregator.record(LLMCallFinished(model="m", duration_s=1.0, at_unix_s=T0))
    assert not aggregator.flush(1.0)  # sent again (same id: ignored), the reply lost again
    assert aggregator.flush(1.0)
    assert store.counter(CALLS) == 2.0
    assert store.histogram("agentguard_llm_call_duration_seconds").count == 2


def test_memory_is_bounded_by_series_with_100k_tool_names() -> None:
    store = MemoryStore(clock=lambda: T0)
    aggregator = Aggregator(store, process_id="p")
    for i in range(100_000):
        aggregator.record(ToolCallFinished(tool=f"tool-{i}", duration_s=0.01, at_unix_s=T0))
    # 101 tools (100 and other) x (a counter and a histogram), plus the counts about itself
    assert aggregator.held_series <= 2 * 101 + 5
    assert aggregator.flush(1.0)
    assert len(store.series(TOOLS)) == 101
    assert store.counter(TOOLS) == 100_000
    assert store.counter(TOOLS, {"tool": "other"}) == 100_000 - 100
    assert store.counter("agentguard_series_dropped_total", {"metric": TOOLS}) == 99_900


def test_a_series_cap_drops_new_series_and_counts_them() -> None:
    store = MemoryStore(clock=lambda: T0)
    aggregator = Aggregator(store, process_id="p", max_series=3)
    for i in range(3):
        aggregator.record(ToolCallFinished(tool=f"t{i}", duration_s=0.01, at_unix_s=T0))
    assert aggregator.flush(1.0)
    dropped = store.counter("agentguard_events_dropped_total", {"reason": "series_cap"})
    assert dropped > 0
    assert aggregator.held_series == 0


def test_invalid_amounts_are_refused_and_counted() -> None:
    store = MemoryStore(clock=lambda: T0)
    aggregator = Aggregator(store, process_id="p")
    aggregator.record(ToolCallFinished(tool="t", duration_s=float("nan"), at_unix_s=T0))
    aggregator.record(ToolCallFinished(tool="t", duration_s=-1.0, at_unix_s=T0))
    assert aggregator.flush(1.0)
    duration = "agentguard_tool_call_duration_seconds"
    assert store.histogram(duration).count == 0
    assert store.counter("agentguard_invalid_values_total", {"field": duration}) == 2.0
    assert store.counter(TOOLS) == 2.0


def test_eight_threads_publishing_give_exact_totals() -> None:
    store = MemoryStore(clock=lambda: T0)
    aggregator = Aggregator(store, process_id="p")
    bus = Bus()
    aggregator.attach(bus)
    per_thread = 2_000
    start = threading.Barrier(9)

    def publish(i: int) -> None:
        start.wait()
        for n in range(per_thread):
            bus.publish(LLMCallFinished(model=f"m{i % 2}", duration_s=0.5, at_unix_s=T0 + n % 120))

    def flush_meanwhile() -> None:
        start.wait()
        for _ in range(50):
            aggregator.flush(1.0)

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(8)]
    threads.append(threading.Thread(target=flush_meanwhile))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert aggregator.flush(1.0)
    assert store.counter(CALLS) == 8 * per_thread
    assert store.counter(CALLS, {"model": "m0"}) == 4 * per_thread
    assert store.histogram("agentguard_llm_call_duration_seconds").count == 8 * per_thread


def test_attach_is_idempotent_and_close_stops_and_flushes() -> None:
    clock = FakeClock(T0)
    store = MemoryStore(clock=clock.time)
    aggregator = Aggregator(store, process_id="p", clock=clock.time)
    bus = Bus()
    first = aggregator.attach(bus)
    assert aggregator.attach(bus) is first
    bus.publish(RunStarted(agent="a", at_unix_s=T0))
    aggregator.close()
    assert first.closed
    bus.publish(RunStarted(agent="a", at_unix_s=T0))
    assert store.gauge("agentguard_runs_in_progress") == 1.0


def test_misuse_fails_at_once() -> None:
    with pytest.raises(TypeError, match="Store"):
        Aggregator(object())  # type: ignore[arg-type]  # the misuse under test
    with pytest.raises(ValueError, match="max_label_values"):
        Aggregator(max_label_values=0)
    with pytest.raises(ValueError, match="relative_accuracy"):
        Aggregator(relative_accuracy=1.5)


@given(st.lists(st.floats(0.0, 1e7, allow_nan=False), min_size=1, max_size=200))
def test_the_inlined_sketch_add_is_the_sketchs_own(durations: list[float]) -> None:
    store = Recording()
    aggregator = Aggregator(store, process_id="p", interval_s=None)
    expected = Sketch()
    for duration in durations:
        aggregator.record(ToolCallFinished(tool="t", duration_s=duration, at_unix_s=T0))
        expected.add(duration)
    assert aggregator.flush(1.0)
    (batch,) = store.batches
    key = ("agentguard_tool_call_duration_seconds", ("t", ""), int(T0))
    assert batch.histograms[key] == expected


def test_series_are_kept_per_agent_from_the_run_context() -> None:
    store = MemoryStore(clock=lambda: T0)
    aggregator = Aggregator(store, process_id="p", interval_s=None)
    bus = Bus()
    aggregator.attach(bus)
    with run_context("support"):
        bus.publish(LLMCallFinished(model="m", duration_s=1.0, at_unix_s=T0))
        bus.publish(RunFinished(duration_s=2.0, ok=True, cost_usd=0.5, at_unix_s=T0))
    with run_context("billing"):
        bus.publish(LLMCallFinished(model="m", duration_s=3.0, at_unix_s=T0))
    bus.publish(LLMCallFinished(model="m", duration_s=5.0, at_unix_s=T0))  # outside any run
    assert aggregator.close(1.0)
    assert store.counter(CALLS) == 3.0
    assert store.counter(CALLS, {"agent": "support"}) == 1.0
    assert store.counter(CALLS, {"agent": ""}) == 1.0
    assert store.quantile("agentguard_llm_call_duration_seconds", 1.0, {"agent": "billing"}) == 3.0
    assert store.series("agentguard_runs_total") == [("support", "ok")]  # labelled by agent once
    assert store.histogram("agentguard_run_cost_usd", {"agent": "support"}).sum == 0.5


def test_a_breaker_state_belongs_to_no_agent() -> None:
    store = MemoryStore(clock=lambda: T0)
    aggregator = Aggregator(store, process_id="p", interval_s=None)
    moves: list[tuple[str, BreakerState]] = [("support", "open"), ("billing", "half_open")]
    for agent, state in moves:
        with run_context(agent):
            aggregator.record(
                BreakerStateChanged(
                    breaker="anthropic",
                    old_state="closed",
                    new_state=state,
                    failure_count=5,
                    at_unix_s=T0,
                )
            )
    assert aggregator.flush(1.0)
    assert store.gauges("agentguard_breaker_state") == {("anthropic", ""): 1.0}  # the latest


def test_runs_in_progress_never_go_below_zero_and_unmatched_finishes_are_counted() -> None:
    store = MemoryStore(clock=lambda: T0)
    aggregator = Aggregator(store, process_id="w", clock=lambda: T0, interval_s=None)
    finished = RunFinished(agent="a", duration_s=1.0, ok=True, at_unix_s=T0)
    for _ in range(6):  # finishes of runs that started before this process was watching
        aggregator.record(finished)
    assert aggregator.flush(1.0)
    assert store.gauge(RUNNING, {"agent": "a"}) == 0.0
    assert store.gauge(RUNNING) == 0.0  # the snapshot's active_executions
    assert store.counter("agentguard_invalid_values_total", {"field": RUNNING}) == 6.0
    assert store.counter("agentguard_runs_total") == 6.0  # the runs themselves still count
    aggregator.record(RunStarted(agent="a", at_unix_s=T0))
    aggregator.record(RunStarted(agent="a", at_unix_s=T0))
    assert aggregator.flush(1.0)
    aggregator.record(finished)  # its start was flushed before: matched
    assert aggregator.flush(1.0)
    assert store.gauge(RUNNING) == 1.0
    assert store.counter("agentguard_invalid_values_total", {"field": RUNNING}) == 6.0
