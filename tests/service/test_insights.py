"""Each insight rule on a data set built to trigger it, and on one built not to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from agentguard.events import BreakerStateChanged, Event, LoopDetected
from agentguard.testing import FakeClock
from agentguard_metrics import MemoryStore
from agentguard_service import QueryEngine, parse_query
from service.dataset import NOW, at, feed, llm


def findings(
    clock: FakeClock,
    items: Sequence[Event],
    *,
    agent: str | None = None,
    query: Sequence[tuple[str, str]] = (("timeframe", "1h"),),
) -> list[dict[str, Any]]:
    clock.advance(NOW - clock.time())
    store = MemoryStore(clock=clock.time, liveness_s=3600.0)
    feed(store, clock, items)
    pairs = [*query, ("metrics", "insights")]
    if agent is not None:
        pairs.append(("agent", agent))
    document: dict[str, Any] = QueryEngine(store, clock=clock.time).query(parse_query(pairs))
    found: list[dict[str, Any]] = document["insights"]["findings"]
    return found


def of_type(found: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [f for f in found if f["type"] == kind]


def priced(when: float, usd: float, **options: Any) -> Event:
    return llm(when, costs=(usd, 0.0, 0.0, 0.0, 0.0), **options)


def test_cost_trending_up(clock: FakeClock) -> None:
    found = of_type(findings(clock, [priced(at(0, 30), 1.0), priced(at(1, 30), 2.5)]), "cost_trend")
    assert len(found) == 1
    assert found[0]["severity"] == "critical"  # 150 % up
    assert found[0]["changePercent"] == pytest.approx(150.0)
    assert "150.0%" in found[0]["message"]
    assert found[0]["recommendation"]


def test_steady_cost_is_no_trend(clock: FakeClock) -> None:
    items = [priced(at(0, 30), 1.0), priced(at(1, 30), 1.1)]
    assert of_type(findings(clock, items), "cost_trend") == []


def _calls(minute: int, duration_s: float, model: str = "sonnet") -> list[Event]:
    return [llm(at(1, minute, i), model=model, duration_s=duration_s) for i in range(5)]


def test_latency_spike_names_the_step_and_the_endpoint(clock: FakeClock) -> None:
    items = [*_calls(10, 1.0), *_calls(20, 1.0), *_calls(30, 1.0), *_calls(40, 1.0)]
    items += _calls(45, 0.9, model="haiku") + _calls(50, 6.0, model="opus")
    found = of_type(findings(clock, items), "latency_spike")
    assert len(found) == 1
    assert found[0]["timestamp"] == "2026-01-01T01:50:00Z"
    assert found[0]["endpoint"] == "llm:opus"
    assert found[0]["value"] == pytest.approx(6.0, rel=0.01)
    assert found[0]["baseline"] == pytest.approx(1.0, rel=0.01)
    assert found[0]["severity"] == "critical"  # 6x the typical step


def test_a_day_at_one_minute_is_judged_in_quarter_hours(clock: FakeClock) -> None:
    items = [*_calls(10, 1.0), *_calls(20, 1.0), *_calls(30, 1.0), *_calls(40, 1.0)]
    items += _calls(45, 0.9, model="haiku") + _calls(50, 6.0, model="opus")
    day = (("timeframe", "24h"), ("granularity", "1m"))
    found = of_type(findings(clock, items, query=day), "latency_spike")
    assert [(f["timestamp"], f["endpoint"]) for f in found] == [
        ("2026-01-01T01:45:00Z", "llm:opus")
    ]


def test_even_latency_is_no_spike(clock: FakeClock) -> None:
    items = [*_calls(10, 1.0), *_calls(20, 1.2), *_calls(30, 0.9), *_calls(40, 1.5)]
    assert of_type(findings(clock, items), "latency_spike") == []


def _breaker(minute: int, new: str, old: str) -> Event:
    return BreakerStateChanged(
        breaker="anthropic",
        old_state=old,  # type: ignore[arg-type]  # literal states, typed loosely here
        new_state=new,  # type: ignore[arg-type]
        failure_count=5,
        agent=None,
        at_unix_s=at(1, minute),
    )


def test_a_breaker_that_keeps_opening(clock: FakeClock) -> None:
    items = []
    for minute in (10, 20, 30):
        items += [_breaker(minute, "open", "closed"), _breaker(minute + 5, "closed", "open")]
    found = of_type(findings(clock, items), "breaker_flapping")
    assert [(f["breaker"], f["value"], f["state"], f["severity"]) for f in found] == [
        ("anthropic", 3, "closed", "warning")
    ]
    items.append(_breaker(50, "open", "closed"))
    found = of_type(findings(clock, items), "breaker_flapping")
    assert [(f["value"], f["state"], f["severity"]) for f in found] == [(4, "open", "critical")]


def test_a_breaker_that_opened_once_is_no_finding(clock: FakeClock) -> None:
    items = [_breaker(10, "open", "closed"), _breaker(15, "closed", "open")]
    assert of_type(findings(clock, items), "breaker_flapping") == []


def _loop(action: str) -> Event:
    return LoopDetected(
        tool="job_status",
        pattern="polling",
        repeats=6,
        action=action,  # type: ignore[arg-type]  # "warn" or "stop"
        agent="support",
        at_unix_s=at(1, 30),
    )


def test_a_looping_tool(clock: FakeClock) -> None:
    found = of_type(findings(clock, [_loop("warn"), _loop("stop")]), "tool_loop")
    assert [(f["tool"], f["value"], f["stopped"], f["severity"]) for f in found] == [
        ("job_status", 2, 1, "warning")
    ]
    found = of_type(findings(clock, [_loop("warn")]), "tool_loop")
    assert [f["severity"] for f in found] == ["info"]


def test_a_loop_message_counts_in_words_a_user_reads(clock: FakeClock) -> None:
    (once,) = of_type(findings(clock, [_loop("stop")]), "tool_loop")
    assert once["message"] == "Tool 'job_status' was caught looping 1 time (1 run stopped)"
    items = [_loop("warn"), _loop("warn"), _loop("stop"), _loop("stop")]
    (more,) = of_type(findings(clock, items), "tool_loop")
    assert more["message"] == "Tool 'job_status' was caught looping 4 times (2 runs stopped)"


def test_no_loop_no_finding(clock: FakeClock) -> None:
    assert of_type(findings(clock, [llm(at(1, 30))]), "tool_loop") == []


def test_cache_writes_never_read_back(clock: FakeClock) -> None:
    items = [llm(at(1, m), input_tokens=100, cache_write_5m_tokens=5000) for m in (10, 20)]
    found = of_type(findings(clock, items), "cache_writes_unread")
    assert [(f["model"], f["writeTokens"], f["readTokens"]) for f in found] == [
        ("sonnet", 10000, 0)
    ]
    assert found[0]["severity"] == "warning"


def test_cache_writes_read_back_are_fine(clock: FakeClock) -> None:
    items = [llm(at(1, 10), input_tokens=100, cache_write_5m_tokens=5000)]
    items += [llm(at(1, m), input_tokens=100, cache_read_tokens=5000) for m in (20, 30)]
    assert of_type(findings(clock, items), "cache_writes_unread") == []


def test_dollars_a_prompt_cache_would_save(clock: FakeClock) -> None:
    items = [
        llm(at(1, m), input_tokens=20_000, costs=(0.06, 0.01, 0.0, 0.0, 0.0)) for m in range(10, 20)
    ]
    found = of_type(findings(clock, items), "cache_opportunity")
    assert len(found) == 1
    assert found[0]["model"] == "sonnet"
    assert found[0]["estimatedSavingsUsd"] == pytest.approx(0.6 * 0.5 * 0.9)
    assert found[0]["severity"] == "info"
    assert "$0.27" in found[0]["message"]


def test_no_saving_to_find_when_the_cache_is_used_or_prompts_are_small(clock: FakeClock) -> None:
    cached = [
        llm(at(1, m), input_tokens=20_000, cache_read_tokens=10_000, costs=(0.06, 0, 0, 0, 0))
        for m in range(10, 20)
    ]
    small = [llm(at(1, m), input_tokens=200, costs=(0.06, 0, 0, 0, 0)) for m in range(10, 20)]
    assert of_type(findings(clock, cached), "cache_opportunity") == []
    assert of_type(findings(clock, small), "cache_opportunity") == []


def test_findings_are_most_severe_first_and_narrowed_by_agent(clock: FakeClock) -> None:
    items = [
        priced(at(0, 30), 1.0, agent="a"),
        priced(at(1, 30), 3.0, agent="a"),
        _loop("warn"),
    ]
    found = findings(clock, items)
    assert [f["severity"] for f in found] == ["critical", "info"]
    assert [f["type"] for f in findings(clock, items, agent="support")] == ["tool_loop"]
