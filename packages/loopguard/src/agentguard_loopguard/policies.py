"""Loop policies: small frozen callables over a :class:`LoopState`, composing with ``|`` and ``&``.

A policy gets the state of one run and returns a :class:`Detection` for a loop, else ``None``::

    policy = max_repeats(4) | max_cycle(6)   # either fires (the first one's detection)
    policy = max_polls(5) & max_repeats(8)   # both fire (the left one's detection)

The trap: with ``|`` the first policy that fires names the loop, so put the more specific ones
first (see :func:`default_policy`). The built-in policies ignore allow-listed tools, and cycles
through one (``status, sleep, status, sleep`` is how such a tool polls). Write your own by
subclassing :class:`Policy` and implementing ``__call__``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from agentguard.events import LoopPattern
from agentguard_loopguard.state import LoopState

__all__ = [
    "AllOf",
    "AnyOf",
    "Detection",
    "Policy",
    "default_policy",
    "max_cycle",
    "max_polls",
    "max_repeated_errors",
    "max_repeats",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Detection:
    """A loop that a policy saw."""

    pattern: LoopPattern
    """The shape of the loop: ``repeat``, ``cycle``, ``polling`` or ``error_repeat``."""
    tool: str
    """The tool being called in the loop (for a cycle, the call where the cycle began)."""
    repeats: int
    """How far the loop has gone: the calls in it (for polling and errors, including a call
    being admitted that would continue it). It grows by one with each call that continues the
    loop; the guard tells a loop that goes on from a new one by it."""


class Policy(ABC):
    """A rule that tells whether one run's tool calls are looping."""

    __slots__ = ()

    @abstractmethod
    def __call__(self, state: LoopState) -> Detection | None:
        """Return the loop ``state`` shows, or ``None``."""

    @property
    def periods(self) -> int:
        """The longest cycle period this policy reads from the state (0 for none)."""
        return 0

    def __or__(self, other: Policy) -> Policy:
        return AnyOf(self, _policy(other, "|"))

    def __and__(self, other: Policy) -> Policy:
        return AllOf(self, _policy(other, "&"))

    def __ror__(self, other: object) -> Policy:
        raise _not_a_policy(other, "|")

    def __rand__(self, other: object) -> Policy:
        raise _not_a_policy(other, "&")


def _not_a_policy(other: object, operator: str) -> TypeError:
    return TypeError(
        f"a policy combines with {operator} only with another Policy (such as max_repeats(4)), "
        f"got {other!r}"
    )


def _policy(other: object, operator: str) -> Policy:
    if not isinstance(other, Policy):
        raise _not_a_policy(other, operator)
    return other


class AnyOf(Policy):
    """Fires when any of its policies fires, with the first (left-most) one's detection."""

    __slots__ = ("policies",)

    def __init__(self, *policies: Policy) -> None:
        flat: list[Policy] = []
        for policy in policies:
            flat.extend(policy.policies if isinstance(policy, AnyOf) else (_policy(policy, "|"),))
        self.policies: tuple[Policy, ...] = tuple(flat)

    def __call__(self, state: LoopState) -> Detection | None:
        """The first detection of its policies, or ``None``."""
        for policy in self.policies:
            detection = policy(state)
            if detection is not None:
                return detection
        return None

    @property
    def periods(self) -> int:
        """The longest period any of its policies reads."""
        return max((policy.periods for policy in self.policies), default=0)

    def __repr__(self) -> str:
        return " | ".join(_operand(policy, AnyOf) for policy in self.policies)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnyOf) and other.policies == self.policies

    def __hash__(self) -> int:
        return hash((AnyOf, self.policies))


class AllOf(Policy):
    """Fires when all of its policies fire, with the first (left-most) one's detection."""

    __slots__ = ("policies",)

    def __init__(self, *policies: Policy) -> None:
        flat: list[Policy] = []
        for policy in policies:
            flat.extend(policy.policies if isinstance(policy, AllOf) else (_policy(policy, "&"),))
        self.policies: tuple[Policy, ...] = tuple(flat)

    def __call__(self, state: LoopState) -> Detection | None:
        """The first policy's detection when every policy detects a loop, else ``None``."""
        first: Detection | None = None
        for policy in self.policies:
            detection = policy(state)
            if detection is None:
                return None
            first = first or detection
        return first

    @property
    def periods(self) -> int:
        """The longest period any of its policies reads."""
        return max((policy.periods for policy in self.policies), default=0)

    def __repr__(self) -> str:
        return " & ".join(_operand(policy, AllOf) for policy in self.policies)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AllOf) and other.policies == self.policies

    def __hash__(self) -> int:
        return hash((AllOf, self.policies))


def _operand(policy: Policy, parent: type[Policy]) -> str:
    text = repr(policy)
    return (
        f"({text})" if isinstance(policy, (AnyOf, AllOf)) and type(policy) is not parent else text
    )


def _threshold(name: str, value: object, least: int) -> int:
    if type(value) is not int or value < least:
        raise ValueError(f"{name} must be an int of at least {least}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class _MaxRepeats(Policy):
    times: int

    def __call__(self, state: LoopState) -> Detection | None:
        run = state.repeat_run
        if run < self.times or state.current is not state.last:
            return None
        tool = state.last.tool
        if state.is_allowed(tool):
            return None
        return Detection(pattern="repeat", tool=tool, repeats=run)

    def __repr__(self) -> str:
        return f"max_repeats({self.times})"


@dataclass(frozen=True, slots=True)
class _MaxCycle(Policy):
    steps: int
    max_period: int

    @property
    def periods(self) -> int:
        return self.max_period

    def __call__(self, state: LoopState) -> Detection | None:
        if state.current is not state.last:
            return None
        for period in range(2, self.max_period + 1):
            steps = state.cycle_steps(period)
            if steps < self.steps:
                continue
            if state.repeat_run >= steps:
                return None  # the same call over and over: a repeat, not a cycle
            if any(state.is_allowed(call.tool) for call in state.cycle_calls(period)):
                return None
            tool = state.cycle_first(period, steps).tool
            return Detection(pattern="cycle", tool=tool, repeats=steps)
        return None

    def __repr__(self) -> str:
        if self.max_period == self.steps // 2:
            return f"max_cycle({self.steps})"
        return f"max_cycle({self.steps}, max_period={self.max_period})"


@dataclass(frozen=True, slots=True)
class _MaxPolls(Policy):
    times: int

    def __call__(self, state: LoopState) -> Detection | None:
        same = state.same_results
        if same < self.times:
            return None
        call = state.current
        if state.is_allowed(call.tool):
            return None
        return Detection(pattern="polling", tool=call.tool, repeats=same + (not call.settled))

    def __repr__(self) -> str:
        return f"max_polls({self.times})"


@dataclass(frozen=True, slots=True)
class _MaxRepeatedErrors(Policy):
    times: int

    def __call__(self, state: LoopState) -> Detection | None:
        same = state.same_errors
        if same < self.times:
            return None
        call = state.current
        return Detection(pattern="error_repeat", tool=call.tool, repeats=same + (not call.settled))

    def __repr__(self) -> str:
        return f"max_repeated_errors({self.times})"


def max_repeats(times: int = 4) -> Policy:
    """A loop when the same call (same tool, same arguments) is made ``times`` times in a row.

    Judged as the call is admitted, so the call that would continue the loop can be refused
    before it runs. Results are not looked at. Allow-listed tools are exempt.

    Raises:
        ValueError: ``times`` is not an int of at least 2.
    """
    return _MaxRepeats(_threshold("times", times, 2))


def max_cycle(steps: int = 6, *, max_period: int | None = None) -> Policy:
    """A loop when the newest ``steps`` calls go round a cycle of 2 to ``max_period`` calls.

    ``A, B, A, B, A, B`` is a cycle of period 2 over 6 steps. Each turn of the cycle must be
    the same calls with the same arguments. ``max_period`` defaults to ``steps // 2``, so the
    cycle has come round at least twice. Judged as each call is admitted. A cycle that passes
    through an allow-listed tool is its polling, and exempt.

    Raises:
        ValueError: ``steps`` is not an int of at least 4, or ``max_period`` is not between 2
            and ``steps // 2``.
    """
    steps = _threshold("steps", steps, 4)
    if max_period is None:
        max_period = steps // 2
    elif type(max_period) is not int or not 2 <= max_period <= steps // 2:
        raise ValueError(
            f"max_period must be an int from 2 to steps // 2 = {steps // 2} (the cycle must "
            f"come round twice within steps), got {max_period!r}"
        )
    return _MaxCycle(steps, max_period)


def max_polls(times: int = 5) -> Policy:
    """A loop when the same call has returned the same result ``times`` times in a row.

    Other calls may come between the polls (each within ``max_history`` calls of the
    previous). Judged as each result comes in, and again as the next identical call is
    admitted, so the poll after the warning can be refused before it runs. Needs results
    (:meth:`LoopGuard.after`, ``check(..., result=...)`` or :meth:`LoopGuard.watch`).
    Allow-listed tools are exempt.

    Raises:
        ValueError: ``times`` is not an int of at least 2.
    """
    return _MaxPolls(_threshold("times", times, 2))


def max_repeated_errors(times: int = 3) -> Policy:
    """A loop when ``times`` calls in a row failed with the same error from the same tool.

    The arguments may differ; the error's type and message must not. Judged as each error
    comes in, and again as a call is admitted that repeats the last failing call exactly,
    which can so be refused before it runs. Allow-listed tools are *not* exempt.

    Raises:
        ValueError: ``times`` is not an int of at least 2.
    """
    return _MaxRepeatedErrors(_threshold("times", times, 2))


def default_policy() -> Policy:
    """``max_repeated_errors(3) | max_polls(5) | max_repeats(4) | max_cycle(6)``.

    The most specific first: a retry of a call that keeps failing the same way is an
    ``error_repeat`` even though it is a repeat too, so the warning given for the errors is
    the one that the retry continues.
    """
    return max_repeated_errors(3) | max_polls(5) | max_repeats(4) | max_cycle(6)
