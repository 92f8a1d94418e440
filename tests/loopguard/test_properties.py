"""Property tests: no false positives, detection within the threshold, allow-list respected."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agentguard import Bus
from agentguard.events import LoopDetected
from agentguard.testing import capture_events
from agentguard_loopguard import LoopGuard, ToolLoopDetected, max_cycle, max_repeats

tools = st.sampled_from(["search", "read", "write", "status", "sleep"])
args = st.dictionaries(st.sampled_from("abc"), st.integers(0, 3), max_size=3)
calls = st.tuples(tools, args)


@given(st.lists(calls, unique_by=lambda c: (c[0], tuple(sorted(c[1].items()))), max_size=60))
def test_all_distinct_calls_are_never_a_loop(sequence: list[tuple[str, dict[str, int]]]) -> None:
    bus = Bus(name="test")
    guard = LoopGuard(bus=bus)
    with capture_events(bus) as events:
        for number, (tool, arguments) in enumerate(sequence):
            assert guard.check(tool, arguments, result=number) is None
    assert events == []


@given(
    st.lists(calls, max_size=10),
    calls,
    st.integers(2, 8),
)
def test_a_repeated_call_warns_at_the_threshold_and_stops_right_after(
    prefix: list[tuple[str, dict[str, int]]], call: tuple[str, dict[str, int]], times: int
) -> None:
    bus = Bus(name="test")
    guard = LoopGuard(max_repeats(times), bus=bus)
    for index, (tool, arguments) in enumerate(prefix):
        guard.check(tool, {"prefix": index, **arguments})  # distinct, and not the repeated call
    with capture_events(bus, to=LoopDetected) as events:
        for number in range(1, times + 2):
            try:
                guard.check(*call)
            except ToolLoopDetected:
                assert number == times + 1
    assert [(e.action, e.repeats) for e in events.of(LoopDetected)] == [
        ("warn", times),
        ("stop", times + 1),
    ]


@given(
    st.lists(calls, min_size=2, max_size=4, unique_by=lambda c: c[0]),
    st.integers(0, 10),
)
def test_a_cycle_is_detected_within_its_steps(
    turn: list[tuple[str, dict[str, int]]], extra: int
) -> None:
    period = len(turn)
    steps = 2 * period + extra % 3
    bus = Bus(name="test")
    guard = LoopGuard(max_cycle(steps, max_period=period), bus=bus)
    with capture_events(bus, to=LoopDetected) as events:
        stopped_at = None
        for number in range(1, steps + 2):
            tool, arguments = turn[(number - 1) % period]
            try:
                detection = guard.check(tool, arguments)
            except ToolLoopDetected:
                stopped_at = number
                break
            assert (detection is not None) == (number == steps)
    assert stopped_at == steps + 1
    assert [e.action for e in events.of(LoopDetected)] == ["warn", "stop"]


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("poll"), st.just({"job": 1}), st.sampled_from(["running", "queued"])),
            st.tuples(tools, args, st.integers()),
        ),
        max_size=80,
    )
)
def test_allow_listed_polling_never_stops(
    sequence: list[tuple[str, dict[str, int], object]],
) -> None:
    bus = Bus(name="test")
    guard = LoopGuard(allow=["poll"], bus=bus)
    for step, (tool, arguments, result) in enumerate(sequence):
        if tool == "poll":
            guard.after(guard.before(tool, arguments), result=result)
            continue
        try:
            guard.check(tool, {"step": step, **arguments}, result=result)  # distinct calls
        except ToolLoopDetected as exc:  # pragma: no cover - the property under test
            raise AssertionError(f"stopped {exc.tool}") from exc
