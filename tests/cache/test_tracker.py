from __future__ import annotations

import logging
import math
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard import Bus, Subscriber, default_bus, run_context
from agentguard.events import LLMCallFinished, PromptCacheUsage
from agentguard.testing import FakeClock, StrictBus, capture_events
from agentguard_cache import CacheStats, PromptCacheTracker, TrackerAttachedError

SONNET = "claude-sonnet-4-5"
HAIKU = "claude-haiku-4-5"


def _call(**fields: Any) -> LLMCallFinished:
    fields.setdefault("model", SONNET)
    fields.setdefault("duration_s", 1.0)
    return LLMCallFinished(**fields)


def _tracked(bus: Bus, **options: Any) -> PromptCacheTracker:
    tracker = PromptCacheTracker(clock=FakeClock().monotonic, **options)
    tracker.attach(bus)
    return tracker


def _usage_of(call: LLMCallFinished) -> list[PromptCacheUsage]:
    bus = Bus()
    _tracked(bus)
    with capture_events(bus, to=PromptCacheUsage) as events:
        bus.publish(call)
    return events.of(PromptCacheUsage)


# Hand-worked examples. Prices of the Sonnet 4.5 table, per token: input $3e-6, cache read
# $0.3e-6, 5-minute cache write $3.75e-6.


def test_mostly_read_call() -> None:
    # 9000 read / (1000 uncached + 9000 read) = 0.9
    # cost: 1000 * 3e-6 + 9000 * 0.3e-6 = 0.003 + 0.0027 = 0.0057
    # without cache: 10000 * 3e-6 = 0.03; saved 0.03 - 0.0057 = 0.0243
    [usage] = _usage_of(
        _call(
            input_tokens=1000,
            cache_read_tokens=9000,
            cost_usd=0.0057,
            cost_without_cache_usd=0.03,
        )
    )
    assert usage.hit_ratio == pytest.approx(0.9)
    assert (usage.read_tokens, usage.write_tokens, usage.uncached_tokens) == (9000, 0, 1000)
    assert usage.saved_usd == pytest.approx(0.0243)


def test_writes_only_call_has_ratio_zero_and_costs_more_than_it_saves() -> None:
    # 0 read / (1500 five-minute + 500 one-hour writes) = 0.0
    # cost of the 5m writes alone: 1500 * 3.75e-6 = 0.005625 (plus 500 at 6e-6 = 0.003)
    # without cache: 2000 * 3e-6 = 0.006; saved 0.006 - 0.008625 = -0.002625
    [usage] = _usage_of(
        _call(
            cache_write_5m_tokens=1500,
            cache_write_1h_tokens=500,
            cost_usd=0.008625,
            cost_without_cache_usd=0.006,
        )
    )
    assert usage.hit_ratio == 0.0
    assert (usage.read_tokens, usage.write_tokens, usage.uncached_tokens) == (0, 2000, 0)
    assert usage.saved_usd == pytest.approx(-0.002625)


def test_mixed_call() -> None:
    # 6000 read / (2000 uncached + 6000 read + 1500 + 500 written) = 0.6
    [usage] = _usage_of(
        _call(
            input_tokens=2000,
            cache_read_tokens=6000,
            cache_write_5m_tokens=1500,
            cache_write_1h_tokens=500,
        )
    )
    assert usage.hit_ratio == pytest.approx(0.6)
    assert usage.write_tokens == 2000


@pytest.mark.parametrize(
    ("cost_usd", "cost_without_cache_usd"),
    [
        (None, None),
        (0.01, None),
        (None, 0.03),
        (math.nan, 0.03),
        (0.01, math.inf),
        (0.01, 1e308),  # finite, but out of agentguard.limits: summed twice it is infinity
        (-0.01, 0.03),
    ],
)
def test_unknown_cost_gives_saved_usd_none(
    cost_usd: float | None, cost_without_cache_usd: float | None
) -> None:
    [usage] = _usage_of(
        _call(
            input_tokens=10,
            cache_read_tokens=90,
            cost_usd=cost_usd,
            cost_without_cache_usd=cost_without_cache_usd,
        )
    )
    assert usage.saved_usd is None
    assert usage.hit_ratio == pytest.approx(0.9)


def test_call_without_input_publishes_nothing_and_is_not_counted() -> None:
    bus = Bus()
    tracker = _tracked(bus)
    with capture_events(bus, to=PromptCacheUsage) as events:
        bus.publish(_call(output_tokens=50, ok=False, error_kind="overloaded"))
    assert events == []
    assert tracker.stats() == CacheStats()
    assert tracker.models() == ()


def test_usage_event_copies_the_calls_context_not_the_ambient_one() -> None:
    bus = Bus()
    _tracked(bus)
    call = _call(
        at_unix_s=1_700_000_000.5,
        run_id="run-1",
        agent="planner",
        session_id="session-1",
        model=HAIKU,
        input_tokens=1,
        cache_read_tokens=3,
    )
    with (
        capture_events(bus, to=PromptCacheUsage) as events,
        run_context("someone-else", run_id="run-2", session_id="session-2"),
    ):
        bus.publish(call)
    [usage] = events.of(PromptCacheUsage)
    assert usage.at_unix_s == 1_700_000_000.5
    assert (usage.run_id, usage.agent, usage.session_id) == ("run-1", "planner", "session-1")
    assert usage.model == HAIKU
    assert usage.hit_ratio == 0.75


def test_usage_event_outside_any_run_has_no_run() -> None:
    bus = Bus()
    _tracked(bus)
    with capture_events(bus, to=PromptCacheUsage) as events:
        call = _call(input_tokens=1)
        with run_context("ambient"):
            bus.publish(call)
    [usage] = events.of(PromptCacheUsage)
    assert (usage.run_id, usage.agent, usage.session_id) == (None, None, None)


def test_stats_per_model_per_agent_and_both() -> None:
    bus = Bus()
    tracker = _tracked(bus)
    bus.publish(
        _call(
            agent="a",
            input_tokens=1000,
            cache_read_tokens=9000,
            cost_usd=0.0057,
            cost_without_cache_usd=0.03,
        )
    )
    bus.publish(_call(agent="b", input_tokens=500, cache_write_5m_tokens=500))
    bus.publish(
        _call(
            agent="a",
            model=HAIKU,
            cache_read_tokens=100,
            cache_write_1h_tokens=100,
            cost_usd=0.001,
            cost_without_cache_usd=0.002,
        )
    )
    bus.publish(_call(model=HAIKU, input_tokens=800))  # outside any run: no agent

    assert tracker.models() == (HAIKU, SONNET)
    assert tracker.agents() == ("a", "b")

    everything = tracker.stats()
    assert everything.calls == 4
    assert (everything.read_tokens, everything.write_tokens) == (9100, 600)
    assert everything.uncached_tokens == 2300
    assert everything.input_tokens == 12000
    assert everything.hit_ratio == pytest.approx(9100 / 12000)
    assert everything.saved_usd == pytest.approx(0.0243 + 0.001)
    assert everything.unpriced_calls == 2

    sonnet = tracker.stats(model=SONNET)
    assert (sonnet.calls, sonnet.read_tokens, sonnet.write_tokens) == (2, 9000, 500)
    assert sonnet.hit_ratio == pytest.approx(9000 / 11000)
    assert sonnet.saved_usd == pytest.approx(0.0243)
    assert sonnet.unpriced_calls == 1

    agent_a = tracker.stats(agent="a")
    assert (agent_a.calls, agent_a.read_tokens, agent_a.write_tokens) == (2, 9100, 100)
    assert agent_a.unpriced_calls == 0

    haiku_a = tracker.stats(model=HAIKU, agent="a")
    assert (haiku_a.calls, haiku_a.hit_ratio) == (1, 0.5)

    assert tracker.stats(model="unknown") == CacheStats()
    assert tracker.stats(model="unknown").hit_ratio is None


def test_stats_are_a_frozen_snapshot() -> None:
    bus = Bus()
    tracker = _tracked(bus)
    bus.publish(_call(input_tokens=1))
    before = tracker.stats()
    bus.publish(_call(input_tokens=1))
    assert (before.calls, tracker.stats().calls) == (1, 2)
    with pytest.raises(AttributeError):
        before.calls = 5  # type: ignore[misc]  # proving the dataclass is frozen


def test_tracker_is_a_subscriber() -> None:
    assert isinstance(PromptCacheTracker(), Subscriber)


def test_attaching_twice_to_a_bus_returns_the_same_subscription_and_counts_once() -> None:
    bus = Bus()
    tracker = PromptCacheTracker()
    first = tracker.attach(bus)
    assert tracker.attach(bus) is first
    with capture_events(bus, to=PromptCacheUsage) as events:
        bus.publish(_call(input_tokens=1))
    assert len(events) == 1
    assert tracker.stats().calls == 1


def test_attaching_to_a_second_bus_raises_until_closed() -> None:
    bus, other = Bus(), Bus()
    tracker = PromptCacheTracker()
    tracker.attach(bus)
    with pytest.raises(TrackerAttachedError, match=r"call close\(\) before attaching"):
        tracker.attach(other)
    with pytest.raises(RuntimeError):
        tracker.attach(other)
    bus.publish(_call(input_tokens=1))
    tracker.close()
    tracker.close()
    bus.publish(_call(input_tokens=1))
    assert tracker.stats().calls == 1

    tracker.attach(other)
    other.publish(_call(input_tokens=1))
    assert tracker.stats().calls == 2


def test_closing_the_subscription_lets_the_tracker_attach_again() -> None:
    bus = Bus()
    tracker = PromptCacheTracker()
    subscription = tracker.attach(bus)
    subscription.close()
    again = tracker.attach(bus)
    assert again is not subscription
    bus.publish(_call(input_tokens=1))
    assert tracker.stats().calls == 1


def test_attach_without_a_bus_uses_the_default_bus() -> None:
    tracker = PromptCacheTracker()
    try:
        tracker.attach()
        with capture_events(to=PromptCacheUsage) as events:
            default_bus.publish(_call(input_tokens=1, cache_read_tokens=1))
    finally:
        tracker.close()
    assert [e.hit_ratio for e in events.of(PromptCacheUsage)] == [0.5]


def test_attach_rejects_what_is_not_a_bus() -> None:
    with pytest.raises(TypeError, match=r"bus must be an agentguard\.Bus"):
        PromptCacheTracker().attach("default")  # type: ignore[arg-type]  # misuse on purpose


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"window_s": 0}, ValueError, r"window_s must be a positive number of seconds"),
        ({"window_s": -5.0}, ValueError, r"window_s must be a positive number"),
        ({"window_s": math.nan}, ValueError, r"window_s must be a positive number"),
        ({"window_s": math.inf}, ValueError, r"window_s must be a positive number"),
        ({"window_s": "300"}, TypeError, r"window_s must be a positive number.*got str"),
        ({"window_s": True}, TypeError, r"window_s must be .*got bool"),
        (
            {"regression_fraction": 0},
            ValueError,
            r"regression_fraction must be a number in \(0, 1\]",
        ),
        ({"regression_fraction": 1.5}, ValueError, r"in \(0, 1\].*got 1\.5"),
        ({"regression_fraction": -0.5}, ValueError, r"in \(0, 1\]"),
        ({"regression_fraction": math.nan}, ValueError, r"in \(0, 1\]"),
        ({"regression_fraction": "0.5"}, TypeError, r"regression_fraction must be .*got str"),
        ({"min_calls": 0}, ValueError, r"min_calls must be an int of at least 1, got 0"),
        ({"min_calls": 2.5}, TypeError, r"min_calls must be an int of at least 1.*float"),
        ({"min_calls": True}, TypeError, r"min_calls must be an int.*bool"),
        ({"baseline_half_life_s": 0}, ValueError, r"baseline_half_life_s must be a positive"),
        ({"baseline_half_life_s": None}, TypeError, r"baseline_half_life_s must be"),
        ({"clock": 5.0}, TypeError, r"clock must be a callable"),
    ],
)
def test_bad_configuration_fails_at_construction(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        PromptCacheTracker(**options)


def test_edges_of_the_configuration_are_accepted() -> None:
    PromptCacheTracker(
        window_s=1, regression_fraction=1, min_calls=1, baseline_half_life_s=math.inf
    )


def test_invalid_token_counts_are_skipped_without_raising() -> None:
    bus = StrictBus()
    tracker = _tracked(bus)
    with capture_events(bus, to=PromptCacheUsage) as events:
        bus.publish(_call(input_tokens=-1, cache_read_tokens=10))
        bus.publish(_call(cache_read_tokens=1.5))
        bus.publish(_call(input_tokens=10**300, cache_read_tokens=10))  # past 1e9
        bus.publish(_call(input_tokens=10, cache_read_tokens=10))
    assert [e.hit_ratio for e in events.of(PromptCacheUsage)] == [0.5]
    assert tracker.invalid_calls == 3
    assert tracker.stats().calls == 1


def test_a_failing_clock_never_reaches_the_publisher_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_clock() -> float:
        raise OSError("clock unavailable")

    bus = StrictBus()
    tracker = PromptCacheTracker(clock=broken_clock)
    tracker.attach(bus)
    with caplog.at_level(logging.WARNING, logger="agentguard.cache"):
        for _ in range(3):
            bus.publish(_call(input_tokens=1))
    assert tracker.failures == 3
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "clock unavailable" in errors[0].getMessage()


def test_totals_are_exact_when_many_threads_publish() -> None:
    bus = Bus()
    tracker = _tracked(bus)
    threads_n, calls_n = 8, 250
    start = threading.Barrier(threads_n)

    def work(i: int) -> None:
        start.wait()
        for j in range(calls_n):
            bus.publish(
                _call(
                    model=SONNET if i % 2 else HAIKU,
                    agent=f"agent-{i}",
                    input_tokens=1 + j % 3,
                    cache_read_tokens=j,
                    cache_write_5m_tokens=i,
                    cost_usd=0.25,
                    cost_without_cache_usd=0.5,
                )
            )

    with capture_events(bus, to=PromptCacheUsage) as events:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(events) == threads_n * calls_n
    total = tracker.stats()
    assert total.calls == threads_n * calls_n
    assert total.read_tokens == threads_n * sum(range(calls_n))
    assert total.uncached_tokens == threads_n * sum(1 + j % 3 for j in range(calls_n))
    assert total.write_tokens == calls_n * sum(range(threads_n))
    assert total.saved_usd == 0.25 * threads_n * calls_n
    assert tracker.stats(model=HAIKU).calls == threads_n // 2 * calls_n
    for i in range(threads_n):
        assert tracker.stats(agent=f"agent-{i}").write_tokens == i * calls_n


_token = st.integers(min_value=0, max_value=10**7)
_cost = st.none() | st.floats(min_value=0, max_value=100, allow_nan=False)
_calls = st.lists(
    st.tuples(
        st.sampled_from([SONNET, HAIKU]),
        st.sampled_from([None, "a", "b"]),
        st.tuples(_token, _token, _token, _token),
        st.tuples(_cost, _cost),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(_calls)
def test_ratios_stay_in_range_and_stats_sum_the_inputs(
    calls: list[
        tuple[str, str | None, tuple[int, int, int, int], tuple[float | None, float | None]]
    ],
) -> None:
    bus = Bus()
    tracker = _tracked(bus, min_calls=1, window_s=1.0)
    with capture_events(bus, to=PromptCacheUsage) as events:
        for model, agent, (uncached, read, w5, w1), (cost, without) in calls:
            bus.publish(
                _call(
                    model=model,
                    agent=agent,
                    input_tokens=uncached,
                    cache_read_tokens=read,
                    cache_write_5m_tokens=w5,
                    cache_write_1h_tokens=w1,
                    cost_usd=cost,
                    cost_without_cache_usd=without,
                )
            )

    with_input = [c for c in calls if sum(c[2])]
    usages = events.of(PromptCacheUsage)
    assert len(usages) == len(with_input)
    assert all(0.0 <= u.hit_ratio <= 1.0 for u in usages)

    for only_model in (None, SONNET, HAIKU):
        for only_agent in (None, "a", "b"):
            chosen = [
                c for c in with_input if only_model in (None, c[0]) and only_agent in (None, c[1])
            ]
            priced = [c[3] for c in chosen if c[3][0] is not None and c[3][1] is not None]
            stats = tracker.stats(model=only_model, agent=only_agent)
            assert stats.calls == len(chosen)
            assert stats.uncached_tokens == sum(c[2][0] for c in chosen)
            assert stats.read_tokens == sum(c[2][1] for c in chosen)
            assert stats.write_tokens == sum(c[2][2] + c[2][3] for c in chosen)
            assert stats.unpriced_calls == len(chosen) - len(priced)
            assert stats.saved_usd == pytest.approx(
                math.fsum(w - c for c, w in priced if c is not None and w is not None),
                abs=1e-9,
            )
            if stats.hit_ratio is not None:
                assert 0.0 <= stats.hit_ratio <= 1.0
