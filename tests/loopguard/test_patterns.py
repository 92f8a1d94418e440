from __future__ import annotations

import pytest

from agentguard import Bus
from agentguard.events import LoopDetected
from agentguard.testing import StrictBus, capture_events
from agentguard_loopguard import LoopGuard, ToolLoopDetected, max_cycle, max_polls, max_repeats


def actions(events: list[LoopDetected]) -> list[tuple[str, str, str, int]]:
    return [(e.pattern, e.action, e.tool, e.repeats) for e in events]


@pytest.fixture
def bus() -> Bus:
    return Bus(name="test")


def test_repeat_warns_at_the_4th_identical_call_and_stops_the_5th(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    with capture_events(bus, to=LoopDetected) as events:
        assert [guard.check("search", {"q": "x", "n": 1}) for _ in range(3)] == [None] * 3
        warning = guard.check("search", {"n": 1, "q": "x"})  # key order does not matter
        assert warning is not None
        assert (warning.pattern, warning.repeats) == ("repeat", 4)
        with pytest.raises(ToolLoopDetected) as stopped:
            guard.check("search", {"q": "x", "n": 1})
    assert (stopped.value.tool, stopped.value.pattern, stopped.value.repeats) == (
        "search",
        "repeat",
        5,
    )
    assert actions(events.of(LoopDetected)) == [
        ("repeat", "warn", "search", 4),
        ("repeat", "stop", "search", 5),
    ]


def test_a_stopped_loop_stays_stopped_while_it_goes_on(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    for _ in range(4):
        guard.check("search", {"q": "x"})
    for repeats in (5, 6, 7):
        with pytest.raises(ToolLoopDetected) as stopped:
            guard.check("search", {"q": "x"})
        assert stopped.value.repeats == repeats


def test_different_arguments_are_not_a_repeat(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    with capture_events(bus) as events:
        for page in range(50):
            guard.check("search", {"q": "x", "page": page})
    assert events == []


def test_a_broken_loop_warns_again_instead_of_stopping(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    with capture_events(bus, to=LoopDetected) as events:
        for _ in range(4):
            guard.check("search", {"q": "x"})
        guard.check("read", {"path": "a"})
        for _ in range(4):
            guard.check("search", {"q": "x"})
        with pytest.raises(ToolLoopDetected):
            guard.check("search", {"q": "x"})
    assert [e.action for e in events.of(LoopDetected)] == ["warn", "warn", "stop"]


def test_cycle_of_two_warns_at_the_6th_step_and_stops_the_7th(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    steps = [("read", {"p": "a"}), ("write", {"p": "a"})] * 4
    with capture_events(bus, to=LoopDetected) as events:
        for tool, args in steps[:5]:
            assert guard.check(tool, args) is None
        assert guard.check(*steps[5]) is not None
        with pytest.raises(ToolLoopDetected) as stopped:
            guard.check(*steps[6])
    assert stopped.value.pattern == "cycle"
    assert actions(events.of(LoopDetected)) == [
        ("cycle", "warn", "read", 6),
        ("cycle", "stop", "read", 7),
    ]


def test_cycle_of_three_is_found_within_the_default_steps(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    steps = [("a", 1), ("b", 1), ("c", 1)] * 3
    with capture_events(bus, to=LoopDetected) as events:
        for tool, args in steps[:5]:
            guard.check(tool, args)
        assert events == []
        guard.check(*steps[5])
        with pytest.raises(ToolLoopDetected):
            guard.check(*steps[6])
    assert actions(events.of(LoopDetected)) == [
        ("cycle", "warn", "a", 6),
        ("cycle", "stop", "a", 7),
    ]


def test_longer_cycles_need_a_larger_max_period(bus: Bus) -> None:
    steps = [(f"t{i}", None) for i in range(4)] * 3
    default = LoopGuard(bus=bus)
    for tool, args in steps:
        assert default.check(tool, args) is None
    wide = LoopGuard(max_cycle(8), bus=bus)
    results = [wide.check(tool, args) for tool, args in steps[:8]]
    assert results[:7] == [None] * 7
    assert results[7] is not None
    assert results[7].pattern == "cycle"


def test_polling_between_other_calls_warns_at_the_5th_same_result_and_refuses_the_6th_poll(
    bus: Bus,
) -> None:
    guard = LoopGuard(bus=bus)
    with capture_events(bus, to=LoopDetected) as events:
        for poll in range(1, 6):
            call = guard.before("job_status", {"job": 7})
            detection = guard.after(call, result={"state": "running"})
            assert (detection is not None) == (poll == 5)
            guard.check("think", {"step": poll})
        with pytest.raises(ToolLoopDetected) as stopped:
            guard.before("job_status", {"job": 7})
    assert (stopped.value.pattern, stopped.value.repeats) == ("polling", 6)
    assert actions(events.of(LoopDetected)) == [
        ("polling", "warn", "job_status", 5),
        ("polling", "stop", "job_status", 6),
    ]


def test_polling_that_gets_new_answers_is_not_a_loop(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    with capture_events(bus) as events:
        for poll in range(30):
            guard.check("job_status", {"job": 7}, result={"progress": poll})
            guard.check("think", {"step": poll})
    assert events == []


def test_repeated_error_warns_at_the_3rd_and_refuses_an_exact_4th_retry(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    with capture_events(bus, to=LoopDetected) as events:
        for attempt in range(1, 4):
            call = guard.before("fetch", {"url": "u"})
            detection = guard.after(call, error=TimeoutError("upstream timed out"))
            assert (detection is not None) == (attempt == 3)
        with pytest.raises(ToolLoopDetected) as stopped:
            guard.before("fetch", {"url": "u"})
    assert (stopped.value.pattern, stopped.value.repeats) == ("error_repeat", 4)
    assert actions(events.of(LoopDetected)) == [
        ("error_repeat", "warn", "fetch", 3),
        ("error_repeat", "stop", "fetch", 4),
    ]


def test_the_same_error_with_other_arguments_stops_after_the_4th_failure(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    for attempt in range(1, 4):
        guard.check("fetch", {"url": attempt}, error=ValueError("schema rejected"))
    call = guard.before("fetch", {"url": 4})  # other arguments: may run
    with pytest.raises(ToolLoopDetected) as stopped:
        guard.after(call, error=ValueError("schema rejected"))
    assert (stopped.value.pattern, stopped.value.repeats) == ("error_repeat", 4)


def test_a_success_or_another_error_breaks_an_error_streak(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    with capture_events(bus) as events:
        for attempt in range(12):
            if attempt % 2:
                guard.check("fetch", {"url": attempt}, result="ok")
            else:
                guard.check("fetch", {"url": attempt}, error=ValueError("bad"))
        for attempt in range(6):
            guard.check("fetch", {"url": attempt}, error=ValueError(f"bad {attempt % 2}"))
    assert events == []


def test_error_messages_as_strings_count_too(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    assert guard.check("sql", "select 1", error="syntax error") is None
    assert guard.check("sql", "select 2", error="syntax error") is None
    detection = guard.check("sql", "select 3", error="syntax error")
    assert detection is not None
    assert detection.pattern == "error_repeat"


def test_allow_listed_tools_are_never_stopped_for_repeats_or_polling(bus: Bus) -> None:
    guard = LoopGuard(allow=["job_status"], bus=bus)
    with capture_events(bus) as events:
        for _ in range(200):
            call = guard.before("job_status", {"job": 7})
            guard.after(call, result="running")
        for step in range(200):
            guard.check("job_status", {"job": 7}, result="running")
            guard.check("sleep", {"s": 5})  # a cycle through an allow-listed tool is its polling
            guard.check("sleep", {"s": step})
    assert events == []


def test_allow_listed_tools_are_still_stopped_for_repeated_errors(bus: Bus) -> None:
    guard = LoopGuard(allow=["job_status"], bus=bus)
    for _ in range(3):
        guard.check("job_status", {"job": 7}, error=PermissionError("denied"))
    with pytest.raises(ToolLoopDetected):
        guard.check("job_status", {"job": 7})


def test_warn_then_stop_false_stops_at_the_first_detection(bus: Bus) -> None:
    guard = LoopGuard(max_repeats(3), bus=bus, warn_then_stop=False)
    with capture_events(bus, to=LoopDetected) as events:
        guard.check("a", 1)
        guard.check("a", 1)
        with pytest.raises(ToolLoopDetected):
            guard.check("a", 1)
    assert actions(events.of(LoopDetected)) == [("repeat", "stop", "a", 3)]


def test_a_call_judged_at_admission_and_settlement_warns_once(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    with capture_events(bus, to=LoopDetected) as events:
        for _ in range(4):
            guard.after(guard.before("search", {"q": "x"}), result=[1, 2])
    assert actions(events.of(LoopDetected)) == [("repeat", "warn", "search", 4)]


def test_only_polling_policy_sees_back_to_back_polls(bus: Bus) -> None:
    guard = LoopGuard(max_polls(3), bus=bus)
    with capture_events(bus, to=LoopDetected) as events:
        for _ in range(3):
            guard.check("status", None, result="pending")
        with pytest.raises(ToolLoopDetected):
            guard.check("status")
    assert actions(events.of(LoopDetected)) == [
        ("polling", "warn", "status", 3),
        ("polling", "stop", "status", 4),
    ]


def test_a_failing_bus_changes_no_decision(caplog: pytest.LogCaptureFixture) -> None:
    strict = StrictBus()

    def explode(event: object) -> None:
        raise RuntimeError("subscriber down")

    strict.subscribe(explode)
    guard = LoopGuard(bus=strict)
    for _ in range(3):
        guard.check("search", {"q": "x"})
    detection = guard.check("search", {"q": "x"})
    assert detection is not None
    assert detection.pattern == "repeat"
    with pytest.raises(ToolLoopDetected):
        guard.check("search", {"q": "x"})
    assert "publishing LoopDetected failed" in caplog.text


def test_the_default_bus_is_used_when_none_is_given() -> None:
    guard = LoopGuard(max_repeats(2))
    with capture_events(to=LoopDetected) as events:
        guard.check("x")
        guard.check("x")
    assert actions(events.of(LoopDetected)) == [("repeat", "warn", "x", 2)]


def test_after_twice_is_refused(bus: Bus) -> None:
    guard = LoopGuard(bus=bus)
    call = guard.before("x", 1)
    guard.after(call, result=1)
    with pytest.raises(ValueError, match="settled already"):
        guard.after(call, result=1)
    with pytest.raises(TypeError, match="ToolCall"):
        guard.after("x")  # type: ignore[arg-type]  # the misuse under test
    with pytest.raises(ValueError, match="not both"):
        guard.check("x", 1, result=1, error="e")
