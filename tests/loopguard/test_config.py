from __future__ import annotations

from typing import Any

import pytest

from agentguard import Bus
from agentguard.events import LoopDetected
from agentguard.testing import capture_events
from agentguard_loopguard import (
    AllOf,
    AnyOf,
    Detection,
    LoopGuard,
    LoopState,
    Policy,
    ToolLoopDetected,
    default_policy,
    max_cycle,
    max_polls,
    max_repeated_errors,
    max_repeats,
)


def bad(value: object) -> Any:
    """A wrong value, typed so that the misuse reaches the runtime checks."""
    return value


@pytest.mark.parametrize(
    ("build", "parameter"),
    [
        (lambda: max_repeats(1), "times"),
        (lambda: max_repeats(-4), "times"),
        (lambda: max_repeats(bad(2.5)), "times"),
        (lambda: max_repeats(True), "times"),
        (lambda: max_polls(0), "times"),
        (lambda: max_repeated_errors(-1), "times"),
        (lambda: max_cycle(3), "steps"),
        (lambda: max_cycle(6, max_period=4), "max_period"),
        (lambda: max_cycle(6, max_period=1), "max_period"),
        (lambda: LoopGuard(max_history=1), "max_history"),
        (lambda: LoopGuard(max_history=-5), "max_history"),
        (lambda: LoopGuard(max_cycle(20), max_history=10), "max_history"),
        (lambda: LoopGuard(max_runs=0), "max_runs"),
    ],
)
def test_bad_thresholds_raise_value_error_naming_the_parameter(build: Any, parameter: str) -> None:
    with pytest.raises(ValueError, match=parameter):
        build()


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: LoopGuard(policy=bad(lambda state: None)), "policy"),
        (lambda: LoopGuard(policy=bad("max_repeats(4)")), "policy"),
        (lambda: max_repeats(4) | bad(3), "Policy"),
        (lambda: 3 | max_repeats(4), "Policy"),
        (lambda: max_repeats(4) & bad("x"), "Policy"),
        (lambda: None & max_repeats(4), "Policy"),
        (lambda: LoopGuard(allow="job_status"), "allow"),
        (lambda: LoopGuard(allow=bad([1])), "allow"),
        (lambda: LoopGuard(bus=bad("default")), "bus"),
        (lambda: LoopGuard(warn_then_stop=bad(1)), "warn_then_stop"),
    ],
)
def test_unknown_policies_and_options_raise_type_error(build: Any, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        build()


def test_bad_tool_names_fail_at_once() -> None:
    guard = LoopGuard(bus=Bus(name="test"))
    with pytest.raises(TypeError, match="tool"):
        guard.check(None)  # type: ignore[arg-type]  # the misuse under test
    with pytest.raises(ValueError, match="tool"):
        guard.check("")
    with pytest.raises(TypeError, match="error"):
        guard.check("x", error=42)  # type: ignore[arg-type]  # the misuse under test


def test_policies_are_frozen_and_compare_by_value() -> None:
    assert max_repeats(4) == max_repeats(4)
    assert max_repeats(4) | max_cycle(6) == max_repeats(4) | max_cycle(6)
    assert hash(max_polls(5)) == hash(max_polls(5))
    with pytest.raises(AttributeError):
        max_repeats(4).times = 2  # type: ignore[attr-defined]  # frozen
    assert repr(default_policy()) == (
        "max_repeated_errors(3) | max_polls(5) | max_repeats(4) | max_cycle(6)"
    )
    assert repr((max_repeats(3) & max_polls(2)) | max_cycle(8, max_period=3)) == (
        "(max_repeats(3) & max_polls(2)) | max_cycle(8, max_period=3)"
    )
    assert isinstance(max_repeats(2) | max_polls(2) | max_cycle(4), AnyOf)
    assert len((max_repeats(2) | max_polls(2) | max_cycle(4)).policies) == 3  # type: ignore[attr-defined]  # an AnyOf


def test_or_fires_when_any_fires_with_the_first_detection() -> None:
    bus = Bus(name="test")
    guard = LoopGuard(max_repeats(6) | max_cycle(4), bus=bus)
    with capture_events(bus, to=LoopDetected) as events:
        for tool in "abab":
            guard.check(tool)
        for _ in range(6):
            guard.check("z")
    assert [(e.pattern, e.repeats) for e in events.of(LoopDetected)] == [
        ("cycle", 4),
        ("repeat", 6),
    ]


def test_and_fires_only_when_all_fire() -> None:
    bus = Bus(name="test")
    policy = max_repeats(3) & max_polls(4)
    assert isinstance(policy, AllOf)
    guard = LoopGuard(policy, bus=bus)
    with capture_events(bus, to=LoopDetected) as events:
        for number in range(6):
            guard.check("status", result=number)  # repeats without the same result
        assert events == []
        for _ in range(3):
            guard.check("status", result="same")
        assert events == []  # repeated 9 times, but only 3 same results
        guard.check("status", result="same")
        with pytest.raises(ToolLoopDetected):
            guard.check("status", result="same")
    assert [(e.pattern, e.action) for e in events.of(LoopDetected)] == [
        ("repeat", "warn"),
        ("repeat", "stop"),
    ]


class EveryCallTo(Policy):
    """A custom policy: any call to one tool is a loop of 1."""

    __slots__ = ("tool",)

    def __init__(self, tool: str) -> None:
        self.tool = tool

    def __call__(self, state: LoopState) -> Detection | None:
        call = state.current
        if call.tool != self.tool:
            return None
        return Detection(pattern="repeat", tool=call.tool, repeats=call.seq)


def test_custom_policies_compose_with_built_in_ones() -> None:
    bus = Bus(name="test")
    guard = LoopGuard(EveryCallTo("rm") | max_repeats(4), bus=bus)
    assert guard.check("ls") is None
    detection = guard.check("rm", "/tmp/x")
    assert detection == Detection(pattern="repeat", tool="rm", repeats=2)
    with pytest.raises(ToolLoopDetected):
        guard.check("rm", "/tmp/y")


def test_the_exception_is_an_agentguard_error_and_pickles() -> None:
    import pickle

    from agentguard import AgentGuardError

    error = ToolLoopDetected(tool="t", pattern="cycle", repeats=7, run_id="r")
    assert isinstance(error, AgentGuardError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.tool, copy.pattern, copy.repeats, copy.run_id) == ("t", "cycle", 7, "r")
