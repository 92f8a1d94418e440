from __future__ import annotations

import math
from typing import Any

import pytest

from agentguard import Bus
from agentguard.events import LLMCallFinished, PromptCacheRegressed
from agentguard.testing import CapturedEvents, FakeClock, capture_events
from agentguard_cache import PromptCacheTracker

SONNET = "claude-sonnet-4-5"
HAIKU = "claude-haiku-4-5"


class Traffic:
    """A bus with a tracker on it, and a fake clock to move between calls."""

    def __init__(self, **options: Any) -> None:
        self.bus = Bus()
        self.clock = FakeClock()
        self.tracker = PromptCacheTracker(clock=self.clock.monotonic, **options)
        self.tracker.attach(self.bus)

    def run(
        self, ratio: float, seconds: float, *, every_s: float = 10.0, model: str = SONNET
    ) -> None:
        """One call of 1000 input tokens every ``every_s`` seconds, ``ratio`` of them read."""
        for _ in range(int(seconds / every_s)):
            read = round(1000 * ratio)
            self.bus.publish(
                LLMCallFinished(
                    model=model,
                    duration_s=1.0,
                    run_id="run-7",
                    agent="support",
                    session_id="session-7",
                    at_unix_s=self.clock.time(),
                    input_tokens=1000 - read,
                    cache_read_tokens=read,
                )
            )
            self.clock.advance(every_s)


def _regressions(events: CapturedEvents) -> list[PromptCacheRegressed]:
    return events.of(PromptCacheRegressed)


def test_a_steady_series_never_fires() -> None:
    traffic = Traffic()
    with capture_events(traffic.bus, to=PromptCacheRegressed) as events:
        for _ in range(12):  # two hours of 0.8 and 1.0 in turns: noisy but steady
            traffic.run(0.8, 300.0, every_s=5.0)
            traffic.run(1.0, 300.0, every_s=5.0)
    assert events == []
    assert not traffic.tracker.regressed(SONNET)


def test_a_drop_fires_once_with_the_baseline_and_the_window_ratio() -> None:
    traffic = Traffic()
    traffic.run(0.9, 900.0)
    with capture_events(traffic.bus, to=PromptCacheRegressed) as events:
        traffic.run(0.1, 3600.0)  # an hour of regression: one event, no storm
    [event] = _regressions(events)
    assert event.model == SONNET
    # Only 0.9 calls had left the window when the drop showed, so the baseline is theirs.
    assert event.baseline_ratio == pytest.approx(0.9)
    # It fired on the first call that took the window below 0.5 x 0.9 = 0.45.
    assert 0.1 <= event.current_ratio < 0.45
    assert event.current_ratio > 0.45 - 0.8 / 30  # one call of 30 in the window moves 0.8/30
    assert (event.run_id, event.agent, event.session_id) == ("run-7", "support", "session-7")
    assert traffic.tracker.regressed(SONNET)


def test_it_fires_again_only_after_recovering() -> None:
    traffic = Traffic()
    traffic.run(0.9, 900.0)
    with capture_events(traffic.bus, to=PromptCacheRegressed) as events:
        traffic.run(0.1, 600.0)
        assert len(_regressions(events)) == 1
        traffic.run(0.9, 600.0)
        assert not traffic.tracker.regressed(SONNET)
        assert len(_regressions(events)) == 1
        traffic.run(0.1, 600.0)
    assert len(_regressions(events)) == 2


def test_a_cold_start_never_fires() -> None:
    traffic = Traffic()
    with capture_events(traffic.bus, to=PromptCacheRegressed) as events:
        traffic.run(0.9, 150.0)  # the whole start fits in one window: no baseline yet
        traffic.run(0.0, 140.0)
    assert events == []
    assert traffic.tracker.stats(model=SONNET).calls == 29


def test_a_baseline_needs_min_calls_before_it_counts() -> None:
    traffic = Traffic(min_calls=10)
    # 5 good calls, then silence: they leave the window but are too few to be a baseline.
    traffic.run(0.9, 50.0)
    traffic.clock.advance(600.0)
    with capture_events(traffic.bus, to=PromptCacheRegressed) as events:
        traffic.run(0.0, 280.0)
    assert events == []


def test_a_window_with_fewer_than_min_calls_is_not_judged() -> None:
    traffic = Traffic(min_calls=10)
    traffic.run(0.9, 3600.0, every_s=60.0)  # 5 calls per 300 s window
    with capture_events(traffic.bus, to=PromptCacheRegressed) as events:
        traffic.run(0.0, 3600.0, every_s=60.0)
    assert events == []


def test_min_calls_of_one_judges_every_call() -> None:
    traffic = Traffic(min_calls=1)
    traffic.run(0.9, 3600.0, every_s=60.0)
    with capture_events(traffic.bus, to=PromptCacheRegressed) as events:
        traffic.run(0.0, 600.0, every_s=60.0)
    assert len(events) == 1


def test_models_are_judged_apart() -> None:
    traffic = Traffic()
    for _ in range(30):
        traffic.run(0.9, 30.0, model=SONNET)
        traffic.run(0.5, 30.0, model=HAIKU)
    with capture_events(traffic.bus, to=PromptCacheRegressed) as events:
        for _ in range(30):
            traffic.run(0.1, 30.0, model=SONNET)
            traffic.run(0.5, 30.0, model=HAIKU)
    assert [e.model for e in _regressions(events)] == [SONNET]
    assert not traffic.tracker.regressed(HAIKU)


def test_regression_fraction_sets_the_threshold() -> None:
    gentle = Traffic(regression_fraction=0.5)
    strict = Traffic(regression_fraction=0.9)
    for traffic in (gentle, strict):
        traffic.run(0.9, 900.0)
    with (
        capture_events(gentle.bus, to=PromptCacheRegressed) as gentle_events,
        capture_events(strict.bus, to=PromptCacheRegressed) as strict_events,
    ):
        for traffic in (gentle, strict):
            traffic.run(0.7, 900.0)  # 0.7 is above 0.45 but below 0.81
    assert gentle_events == []
    assert [e.current_ratio for e in strict_events.of(PromptCacheRegressed)] == [
        pytest.approx(0.81 - 0.005, abs=0.01)
    ]


def test_the_baseline_follows_a_lasting_change_without_firing_again() -> None:
    traffic = Traffic(baseline_half_life_s=120.0)
    traffic.run(0.9, 900.0)
    with capture_events(traffic.bus, to=PromptCacheRegressed) as events:
        traffic.run(0.3, 3600.0)  # a deliberate new prompt layout that caches less
    assert len(events) == 1
    assert not traffic.tracker.regressed(SONNET)  # the baseline moved down to 0.3


def test_without_decay_the_baseline_is_every_call_before_the_window() -> None:
    traffic = Traffic(baseline_half_life_s=math.inf)
    traffic.run(0.9, 600.0)
    traffic.run(0.6, 600.0)
    with capture_events(traffic.bus, to=PromptCacheRegressed) as events:
        traffic.run(0.0, 300.0)
    [event] = _regressions(events)
    # Retired before the drop showed: 60 calls at 0.9, then the first 0.6 calls; the
    # event's baseline is their plain token-weighted ratio, between the two.
    assert 0.6 < event.baseline_ratio < 0.9


def test_memory_per_model_stays_bounded() -> None:
    traffic = Traffic()
    traffic.run(0.9, 7200.0, every_s=1.0)
    window = traffic.tracker._windows[SONNET]
    assert len(window._buckets) <= 61
    assert traffic.tracker.stats().calls == 7200
