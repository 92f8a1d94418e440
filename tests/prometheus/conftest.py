"""Fixtures: a fresh registry, bus and subscriber per test; one event of every kind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from agentguard import Bus
from agentguard.events import (
    EVENT_TYPES,
    AlertStateChanged,
    BreakerRejected,
    BreakerStateChanged,
    BudgetExceeded,
    ErrorClassified,
    Event,
    LLMCallFinished,
    LoopDetected,
    PromptCacheRegressed,
    PromptCacheUsage,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from agentguard_prometheus import PrometheusSubscriber

LLM_CALL = LLMCallFinished(
    model="claude-sonnet-4-5",
    agent="support",
    input_tokens=100,
    output_tokens=20,
    cache_read_tokens=900,
    cache_write_5m_tokens=50,
    cache_write_1h_tokens=0,
    cost_usd=0.01,
    input_cost_usd=0.003,
    output_cost_usd=0.004,
    cache_read_cost_usd=0.002,
    cache_write_5m_cost_usd=0.001,
    cache_write_1h_cost_usd=0.0,
    duration_s=1.5,
    time_to_first_token_s=0.4,
    streamed=True,
    retries=2,
)

EVERY_KIND: tuple[Event, ...] = (
    RunStarted(agent="support"),
    RunFinished(agent="support", duration_s=3.0, ok=True),
    LLM_CALL,
    ToolCallFinished(tool="search", duration_s=0.2, ok=False, error_kind="timeout"),
    PromptCacheUsage(
        model="claude-sonnet-4-5",
        hit_ratio=0.9,
        read_tokens=900,
        write_tokens=50,
        uncached_tokens=100,
        saved_usd=0.02,
    ),
    PromptCacheRegressed(model="claude-sonnet-4-5", baseline_ratio=0.9, current_ratio=0.1),
    ErrorClassified(
        source="other", error_kind="internal", retryable=False, exception_type="ValueError"
    ),
    BreakerStateChanged(breaker="anthropic", old_state="closed", new_state="open", failure_count=5),
    BreakerRejected(breaker="anthropic"),
    LoopDetected(tool="search", pattern="repeat", repeats=4, action="stop"),
    BudgetExceeded(scope="run", limit_usd=1.0, spent_usd=1.5),
    AlertStateChanged(rule="error_rate", state="firing", value=0.3),
)

assert {type(event) for event in EVERY_KIND} == set(EVENT_TYPES), "one event of every kind"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
def subscriber(registry: CollectorRegistry, bus: Bus) -> Iterator[PrometheusSubscriber]:
    subscriber = PrometheusSubscriber(registry)
    subscriber.attach(bus)
    yield subscriber
    subscriber.close()


@pytest.fixture
def every_kind() -> tuple[Event, ...]:
    return EVERY_KIND


@pytest.fixture
def llm_call() -> LLMCallFinished:
    return LLM_CALL
