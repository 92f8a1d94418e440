"""The evaluator: for-durations, resolution, repeat intervals, deduplication, grouping."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace

import pytest

from agentguard import Bus
from agentguard.events import AlertStateChanged, BudgetExceeded, LoopDetected, ToolCallFinished
from agentguard.testing import FakeClock, StrictBus, capture_events
from agentguard_alerts import Evaluator, Increase, Notification, Rule, builtin, embedded
from agentguard_metrics import MemoryStore, Store
from alerts.conftest import Feed, Recorder


def loop(agent: str = "support", tool: str = "search") -> LoopDetected:
    return LoopDetected(agent=agent, tool=tool, pattern="repeat", repeats=4, action="warn")


def failures(tool: str = "search", n: int = 1) -> list[ToolCallFinished]:
    return [ToolCallFinished(tool=tool, duration_s=0.1, ok=False, error_kind="tool_error")] * n


def tool_failures_rule(**options: object) -> Rule:
    settings: dict[str, object] = {
        "name": "ToolFailing",
        "expr": Increase("agentguard_tool_calls_total", {"status": "error"}),
        "threshold": 2,
        "window_s": 300,
        "by": ("tool",),
        "summary": "$tool failed $value times in $window",
        **options,
    }
    return Rule(**settings)  # type: ignore[arg-type]  # the options are Rule's


def statuses(notifications: list[Notification]) -> list[list[tuple[str, Mapping[str, str]]]]:
    return [[(a.status, a.labels) for a in n.alerts] for n in notifications]


def test_an_alert_fires_only_after_holding_for_its_for_duration(
    feed: Feed, recorder: Recorder
) -> None:
    bus = Bus(name="states")
    evaluator = Evaluator(
        feed.store, [tool_failures_rule(for_s=120)], recorder, bus=bus, clock=feed.clock.time
    )
    feed.publish(*failures(n=3))
    with capture_events(bus, to=AlertStateChanged) as states:
        evaluator.evaluate()
        feed.clock.advance(60)
        evaluator.evaluate()
        assert states == [] and recorder.take() == [], "pending for 60 s of 120: nothing yet"
        feed.clock.advance(60)
        evaluator.evaluate()
    (state,) = states.of(AlertStateChanged)
    assert (state.rule, state.state, state.value) == ("ToolFailing", "firing", 3.0)
    assert state.labels == {"alertname": "ToolFailing", "severity": "warning", "tool": "search"}
    (notification,) = recorder.take()
    (alert,) = notification.alerts
    assert alert.annotations["summary"] == "search failed 3 times in 5m"
    assert alert.starts_at_unix_s == feed.clock.time()
    assert [a.labels["tool"] for a in evaluator.firing()] == ["search"]


def test_a_pending_alert_that_stops_holding_never_fires(feed: Feed, recorder: Recorder) -> None:
    bus = Bus(name="states")
    evaluator = Evaluator(
        feed.store, [tool_failures_rule(for_s=300)], recorder, bus=bus, clock=feed.clock.time
    )
    feed.publish(*failures(n=3))
    with capture_events(bus) as states:
        evaluator.evaluate()
        feed.clock.advance(420)  # the failures left the window before 300 s of holding
        evaluator.evaluate()
        feed.clock.advance(300)
        evaluator.evaluate()
    assert states == []
    assert recorder.take() == []


def test_an_alert_resolves_when_its_window_no_longer_holds_the_data(
    feed: Feed, recorder: Recorder
) -> None:
    bus = Bus(name="states")
    evaluator = Evaluator(
        feed.store, [builtin.loop_detected()], recorder, bus=bus, clock=feed.clock.time
    )
    feed.publish(loop())
    with capture_events(bus, to=AlertStateChanged) as states:
        evaluator.evaluate()
        feed.clock.advance(300)  # still inside the 5 minutes (and the current minute)
        evaluator.evaluate()
        feed.clock.advance(60)
        evaluator.evaluate()
    assert [(s.rule, s.state, s.value) for s in states.of(AlertStateChanged)] == [
        ("LoopDetected", "firing", 1.0),
        ("LoopDetected", "resolved", 0.0),
    ]
    firing, resolved = recorder.take()
    assert firing.status == "firing"
    assert resolved.status == "resolved"
    (alert,) = resolved.alerts
    assert alert.ends_at_unix_s == feed.clock.time()
    assert alert.fingerprint == firing.alerts[0].fingerprint, "the same alert resolved"
    assert evaluator.firing() == []


def test_a_firing_alert_is_not_sent_again_until_the_repeat_interval(
    feed: Feed, recorder: Recorder
) -> None:
    bus = Bus(name="states")
    rule = builtin.loop_detected(window_s=3600)
    evaluator = Evaluator(
        feed.store, [rule], recorder, bus=bus, clock=feed.clock.time, repeat_interval_s=1800
    )
    feed.publish(loop())
    with capture_events(bus, to=AlertStateChanged) as states:
        for _ in range(10):  # every minute for 10 minutes
            evaluator.evaluate()
            feed.clock.advance(60)
        assert len(recorder.take()) == 1, "deduplicated: one notification while it fires"
        feed.clock.advance(1800)
        evaluator.evaluate()
        evaluator.evaluate()
    (again,) = recorder.take()
    assert again.status == "firing"
    assert [s.state for s in states.of(AlertStateChanged)] == ["firing"], (
        "a repeat is not a state change"
    )


def test_a_rule_repeat_interval_overrides_the_evaluator_default(
    feed: Feed, recorder: Recorder
) -> None:
    rule = builtin.loop_detected(window_s=3600, repeat_interval_s=120)
    evaluator = Evaluator(feed.store, [rule], recorder, bus=Bus(), clock=feed.clock.time)
    feed.publish(loop())
    for _ in range(5):
        evaluator.evaluate()
        feed.clock.advance(60)
    assert len(recorder.take()) == 3  # at 0, 120 and 240 s


def test_alerts_of_one_rule_are_grouped_into_one_notification(
    feed: Feed, recorder: Recorder
) -> None:
    evaluator = Evaluator(
        feed.store, [builtin.loop_detected()], recorder, bus=Bus(), clock=feed.clock.time
    )
    feed.publish(loop("support", "search"), loop("support", "fetch"), loop("billing", "search"))
    evaluator.evaluate()
    (notification,) = recorder.take()
    assert notification.group_labels == {"alertname": "LoopDetected"}
    assert notification.group_key == '{}:{alertname="LoopDetected"}'
    assert sorted((a.labels["agent"], a.labels["tool"]) for a in notification.alerts) == [
        ("billing", "search"),
        ("support", "fetch"),
        ("support", "search"),
    ]
    assert len({a.fingerprint for a in notification.alerts}) == 3


def test_a_resolution_is_sent_with_the_alerts_still_firing_in_its_group(
    feed: Feed, recorder: Recorder
) -> None:
    evaluator = Evaluator(
        feed.store, [builtin.loop_detected()], recorder, bus=Bus(), clock=feed.clock.time
    )
    feed.publish(loop("support"))
    evaluator.evaluate()
    feed.clock.advance(300)
    feed.publish(loop("billing"))
    evaluator.evaluate()
    feed.clock.advance(60)
    evaluator.evaluate()  # support's loop left the window; billing's is in it
    first, second, third = recorder.take()
    assert statuses([first]) == [[("firing", first.alerts[0].labels)]]
    assert {a.labels["agent"] for a in second.alerts} == {"support", "billing"}
    assert sorted((a.labels["agent"], a.status) for a in third.alerts) == [
        ("billing", "firing"),
        ("support", "resolved"),
    ]
    assert third.status == "firing"


def test_grouping_by_agent_sends_one_notification_per_agent(feed: Feed, recorder: Recorder) -> None:
    evaluator = Evaluator(
        feed.store,
        [builtin.loop_detected(), builtin.budget_exceeded()],
        recorder,
        bus=Bus(),
        clock=feed.clock.time,
        group_by=("agent",),
    )
    feed.publish(
        loop("support"),
        loop("billing"),
        BudgetExceeded(agent="support", scope="run", limit_usd=1.0, spent_usd=1.2),
    )
    evaluator.evaluate()
    by_agent = {n.group_labels["agent"]: n for n in recorder.take()}
    assert set(by_agent) == {"support", "billing"}
    assert sorted(a.labels["alertname"] for a in by_agent["support"].alerts) == [
        "BudgetExceeded",
        "LoopDetected",
    ]
    assert by_agent["support"].group_key == '{}:{agent="support"}'


class FailingStore:
    """A store whose reads fail while ``down`` is set; otherwise the memory store answers."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.down = False

    def __getattr__(self, name: str) -> object:
        if self.down:
            raise ConnectionError("the store is unreachable")
        return getattr(self.inner, name)


def test_a_store_outage_neither_fires_nor_resolves_and_is_logged_once(
    feed: Feed, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    store = FailingStore(feed.store)
    bus = Bus(name="states")
    evaluator = Evaluator(
        store,  # type: ignore[arg-type]  # reads are forwarded to a real MemoryStore
        [builtin.loop_detected()],
        recorder,
        bus=bus,
        clock=feed.clock.time,
    )
    feed.publish(loop())
    evaluator.evaluate()
    store.down = True
    with capture_events(bus) as states:
        for _ in range(20):
            feed.clock.advance(60)
            evaluator.evaluate()
    assert states == [], "an outage resolves nothing"
    assert evaluator.failed_reads == 20
    assert len([r for r in caplog.records if "reading the store failed" in r.message]) == 1
    assert [a.labels["alertname"] for a in evaluator.firing()] == ["LoopDetected"]
    store.down = False
    evaluator.evaluate()
    assert evaluator.firing() == [], "the loop is long out of the window: resolved"
    assert [n.status for n in recorder.take()] == ["firing", "resolved"]


def test_the_events_reach_a_strict_bus_and_a_failing_notifier_is_isolated(
    feed: Feed, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Recorder):
        def notify(self, notification: Notification) -> None:
            raise RuntimeError("a notifier bug")

    good = Recorder()
    bus = StrictBus()
    evaluator = Evaluator(
        feed.store, [builtin.loop_detected()], [Broken(), good], bus=bus, clock=feed.clock.time
    )
    feed.publish(loop())
    with capture_events(bus) as states:
        evaluator.evaluate()
    assert [type(s).__name__ for s in states] == ["AlertStateChanged"]
    assert len(good.take()) == 1, "the notifier after a broken one still gets it"
    assert "notify raised" in caplog.text


def test_misuse_fails_fast(feed: Feed) -> None:
    rule = builtin.loop_detected()
    with pytest.raises(ValueError, match="unique; repeated: LoopDetected"):
        Evaluator(feed.store, [rule, rule])
    with pytest.raises(TypeError, match="Rule objects"):
        Evaluator(feed.store, ["LoopDetected"])  # type: ignore[list-item]  # the point
    with pytest.raises(ValueError, match="interval_s must be > 0"):
        Evaluator(feed.store, [rule], interval_s=0)
    with pytest.raises(TypeError, match="not one str"):
        Evaluator(feed.store, [rule], group_by="agent")


def test_rules_read_the_store_protocol_of_agentguard_metrics() -> None:
    store: Store = MemoryStore()
    Evaluator(store, [])  # mypy checks the signature: a Store
    with pytest.warns(DeprecationWarning, match=r"agentguard_metrics\.Store"):
        from agentguard_alerts import MetricsReader
    assert MetricsReader is Store


def test_the_background_thread_evaluates_until_stopped(feed: Feed, recorder: Recorder) -> None:
    evaluated = threading.Event()
    evaluator = Evaluator(
        feed.store,
        [builtin.loop_detected()],
        recorder,
        bus=Bus(),
        clock=feed.clock.time,
        before_evaluation=evaluated.set,
        interval_s=3600,
    )
    feed.publish(loop())
    evaluator.start()
    try:
        assert evaluated.wait(10), "the first evaluation runs at start"
        with pytest.raises(RuntimeError, match="started already"):
            evaluator.start()
    finally:
        evaluator.close()
    assert evaluator.evaluations >= 1
    assert recorder.closed, "closing the evaluator closes its notifiers"
    assert [n.status for n in recorder.take()] == ["firing"]
    with pytest.raises(RuntimeError, match="closed"):
        evaluator.start()


def test_embedded_rules_see_the_events_of_this_process(recorder: Recorder) -> None:
    clock = FakeClock()
    bus = Bus(name="agent")
    evaluator = embedded([builtin.loop_detected()], recorder, bus=bus, clock=clock.time)
    with capture_events(bus, to=AlertStateChanged) as states:
        bus.publish(replace(loop(), at_unix_s=clock.time()))
        evaluator.evaluate()
    evaluator.close()
    assert [(s.rule, s.state) for s in states.of(AlertStateChanged)] == [("LoopDetected", "firing")]
    assert recorder.closed


def test_notification_ids_are_equal_across_evaluators_and_new_per_transition(
    feed: Feed,
) -> None:
    """Two evaluators over one store (two replicas) give each notification the same id."""
    replicas = [Recorder(), Recorder()]
    evaluators = [
        Evaluator(
            feed.store, [tool_failures_rule()], r, bus=Bus(name=f"r{i}"), clock=feed.clock.time
        )
        for i, r in enumerate(replicas)
    ]

    def evaluate() -> list[str]:
        for evaluator in evaluators:
            evaluator.evaluate()
        ids = [[n.id for n in r.take()] for r in replicas]
        assert ids[0] == ids[1], "the replicas agree on every id"
        return ids[0]

    feed.publish(*failures(n=3))
    (first_firing,) = evaluate()
    assert first_firing.startswith("msg_")
    feed.clock.advance(420)
    (first_resolved,) = evaluate()
    feed.publish(*failures(n=3))
    (second_firing,) = evaluate()
    feed.clock.advance(4 * 3600)
    feed.publish(*failures(n=3))
    (repeat,) = evaluate()
    assert len({first_firing, first_resolved, second_firing, repeat}) == 4


def test_background_evaluations_are_timed_at_multiples_of_the_interval(feed: Feed) -> None:
    """Replicas started at different moments evaluate at the same instants: equal ids."""
    feed.publish(loop())
    replicas: list[tuple[Evaluator, Recorder, threading.Event]] = []
    for offset_s in (3.0, 11.0):
        recorder, evaluated = Recorder(), threading.Event()

        def clock(offset_s: float = offset_s) -> float:
            return feed.clock.time() + offset_s

        evaluator = Evaluator(
            feed.store,
            [builtin.loop_detected()],
            recorder,
            bus=Bus(),
            clock=clock,
            before_evaluation=evaluated.set,
            interval_s=15,
        )
        replicas.append((evaluator.start(), recorder, evaluated))
    for evaluator, _, evaluated in replicas:
        assert evaluated.wait(10)
        evaluator.close()
    (first,), (second,) = (recorder.take() for _, recorder, _ in replicas)
    assert first.alerts[0].starts_at_unix_s == feed.clock.time(), "the tick before both starts"
    assert first.id == second.id
