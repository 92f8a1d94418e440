"""Concurrent publishers and scrapes: per-thread cells merged at scrape time lose nothing."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from agentguard import Bus
from agentguard.events import (
    BreakerStateChanged,
    LLMCallFinished,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from agentguard_prometheus import PrometheusSubscriber

THREADS = 8
ROUNDS = 2_000


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads as often as CPython allows, to provoke lost updates if any."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_eight_publishers_and_a_scraper_keep_exact_totals(
    registry: CollectorRegistry, bus: Bus, fast_switching: None
) -> None:
    PrometheusSubscriber(registry).attach(bus)
    start = threading.Barrier(THREADS + 1)
    done = threading.Event()
    scrapes = 0
    failures: list[BaseException] = []

    def publish(n: int) -> None:
        try:
            start.wait()
            for i in range(ROUNDS):
                bus.publish(RunStarted(agent="a"))
                bus.publish(
                    LLMCallFinished(model="m", input_tokens=3, duration_s=0.3, cost_usd=0.5)
                )
                bus.publish(ToolCallFinished(tool=f"t{i % 3}", duration_s=0.02, ok=i % 2 == 0))
                bus.publish(RunFinished(agent="a", duration_s=1.0, ok=True))
                if i % 500 == 0:
                    bus.publish(
                        BreakerStateChanged(
                            breaker="b", old_state="closed", new_state="open", failure_count=n
                        )
                    )
        except BaseException as error:
            failures.append(error)

    def scrape() -> None:
        nonlocal scrapes
        try:
            start.wait()
            while not done.is_set():
                generate_latest(registry)
                in_progress = registry.get_sample_value(
                    "agentguard_runs_in_progress", {"agent": "a"}
                )
                assert in_progress is None or 0 <= in_progress <= THREADS
                scrapes += 1
        except BaseException as error:
            failures.append(error)

    publishers = [threading.Thread(target=publish, args=(n,)) for n in range(THREADS)]
    scraper = threading.Thread(target=scrape)
    for thread in (*publishers, scraper):
        thread.start()
    for thread in publishers:
        thread.join()
    done.set()
    scraper.join()
    assert not failures, failures
    assert scrapes > 0

    total = THREADS * ROUNDS

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("agentguard_runs_in_progress", agent="a") == 0
    assert value("agentguard_runs_total", agent="a", status="ok") == total
    assert value("agentguard_run_duration_seconds_count", agent="a") == total
    assert value("agentguard_run_duration_seconds_sum", agent="a") == total * 1.0
    assert value("agentguard_llm_calls_total", model="m", status="ok") == total
    assert value("agentguard_llm_tokens_total", model="m", token_type="input") == total * 3
    assert value("agentguard_llm_call_duration_seconds_count", model="m") == total
    assert value("agentguard_llm_call_duration_seconds_bucket", model="m", le="0.25") == 0
    assert value("agentguard_llm_call_duration_seconds_bucket", model="m", le="0.5") == total
    assert value("agentguard_llm_call_duration_seconds_bucket", model="m", le="+Inf") == total
    assert value("agentguard_llm_unpriced_calls_total", model="m") is None
    tool_calls = sum(
        value("agentguard_tool_calls_total", tool=f"t{k}", status=s) or 0.0
        for k in range(3)
        for s in ("ok", "error")
    )
    assert tool_calls == total
    durations = sum(
        value("agentguard_tool_call_duration_seconds_count", tool=f"t{k}") or 0.0 for k in range(3)
    )
    assert durations == total
    assert value("agentguard_events_published_total", kind="llm.call") == total
    assert value("agentguard_breaker_state", breaker="b") == 2
    transitions = THREADS * len(range(0, ROUNDS, 500))
    assert (
        value("agentguard_breaker_transitions_total", breaker="b", to_state="open") == transitions
    )
    # The publishers have ended: their cells were folded into the retired set, values kept.
    assert value("agentguard_llm_calls_total", model="m", status="ok") == total


def test_runs_started_and_finished_on_different_threads(
    registry: CollectorRegistry, bus: Bus, subscriber: PrometheusSubscriber
) -> None:
    def run(event: RunStarted | RunFinished) -> None:
        thread = threading.Thread(target=bus.publish, args=(event,))
        thread.start()
        thread.join()

    run(RunStarted(agent="a"))
    assert registry.get_sample_value("agentguard_runs_in_progress", {"agent": "a"}) == 1
    bus.publish(RunStarted(agent="a"))
    run(RunFinished(agent="a", duration_s=1.0, ok=True))
    run(RunFinished(agent="a", duration_s=1.0, ok=True))
    assert registry.get_sample_value("agentguard_runs_in_progress", {"agent": "a"}) == 0


def test_breaker_state_is_the_last_set_across_threads(
    registry: CollectorRegistry, bus: Bus, subscriber: PrometheusSubscriber
) -> None:
    for new in ("open", "half_open", "closed", "open"):
        thread = threading.Thread(
            target=bus.publish,
            args=(
                BreakerStateChanged(
                    breaker="b", old_state="closed", new_state=new, failure_count=0
                ),
            ),
        )
        thread.start()
        thread.join()
    assert registry.get_sample_value("agentguard_breaker_state", {"breaker": "b"}) == 2


def test_a_name_taken_in_the_registry_still_raises(registry: CollectorRegistry) -> None:
    first = PrometheusSubscriber(registry, allow={"agentguard_tool_calls_total"})
    Counter("agentguard_llm_calls", "someone else's", registry=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        PrometheusSubscriber(registry)
    bus = Bus()
    first.attach(bus)
    bus.publish(ToolCallFinished(tool="x", duration_s=0.1))
    sample = registry.get_sample_value("agentguard_tool_calls_total", {"tool": "x", "status": "ok"})
    assert sample == 1
