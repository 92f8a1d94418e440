"""What the guard knows about one run's tool calls: the one object every policy reads.

A :class:`LoopState` holds the run's newest calls (at most ``max_history``) and counters the
guard keeps up to date as calls come in, so the built-in policies judge a call in constant
time. A policy is called with the state after the guard has recorded something about a call,
the :attr:`LoopState.current` call:

- *admission*: the call is about to run; it is the newest call and not yet settled
  (:meth:`LoopGuard.before`, and the first half of :meth:`LoopGuard.watch`);
- *settlement*: its result or error is known (:meth:`LoopGuard.after`, :meth:`LoopGuard.check`).

Policies must not change the state; they read it under the guard's lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from agentguard_loopguard._canonical import Key

__all__ = ["LoopState", "ToolCall"]


class ToolCall:
    """One tool call as the guard recorded it (read-only)."""

    __slots__ = ("_failed", "_key", "_outcome", "_run_id", "_seq", "_settled")

    def __init__(self, key: tuple[str, Key], seq: int, run_id: str | None) -> None:
        self._run_id = run_id  # not the state itself: no reference cycle to wait for the GC
        self._key = key
        self._seq = seq
        self._outcome: Key | None = None
        self._failed = False
        self._settled = False

    @property
    def tool(self) -> str:
        """The tool's name."""
        return self._key[0]

    @property
    def key(self) -> tuple[str, Key]:
        """The tool's name and the canonical key of its arguments: equal for the same call."""
        return self._key

    @property
    def seq(self) -> int:
        """The call's number in its run, from 1."""
        return self._seq

    @property
    def settled(self) -> bool:
        """Whether the call has finished (``False`` while it is being admitted or runs)."""
        return self._settled

    @property
    def failed(self) -> bool:
        """Whether the call raised (or was reported with an error)."""
        return self._failed

    @property
    def outcome(self) -> Key | None:
        """The canonical key of the result, or of the error when it failed; ``None`` if unknown."""
        return self._outcome

    def __repr__(self) -> str:
        state = "failed" if self._failed else "settled" if self._settled else "pending"
        return f"ToolCall(tool={self.tool!r}, seq={self._seq}, {state})"


class _Answers:
    """The same call's identical answers in a row."""

    __slots__ = ("count", "outcome", "seq")

    def __init__(self, outcome: Key, seq: int) -> None:
        self.outcome = outcome
        self.count = 1
        self.seq = seq


class LoopState:
    """One run's recent tool calls and the counters the built-in policies read.

    Attributes:
        run_id: The run the state belongs to, ``None`` for calls made outside any run.
    """

    __slots__ = (
        "_allow",
        "_calls",
        "_current",
        "_error_streak",
        "_max_history",
        "_period_runs",
        "_repeat_run",
        "_results",
        "_seq",
        "_warned",
        "run_id",
    )

    def __init__(
        self, *, run_id: str | None, max_history: int, periods: int, allow: frozenset[str]
    ) -> None:
        self.run_id = run_id
        self._max_history = max_history
        self._allow = allow
        self._calls: deque[ToolCall] = deque(maxlen=max_history)
        self._current: ToolCall | None = None
        self._seq = 0
        self._repeat_run = 0
        self._period_runs = [0] * (periods + 1)
        self._results: dict[tuple[str, Key], _Answers] = {}
        # the failing calls at the end of the settled ones: (tool, error key, count, last call)
        self._error_streak: tuple[str, Key, int, ToolCall] | None = None
        # (pattern, tool) -> (repeats, seq of the call) of the warnings given in this run
        self._warned: dict[tuple[str, str], tuple[int, int]] = {}

    # -- what policies read ---------------------------------------------------------------

    @property
    def calls(self) -> Sequence[ToolCall]:
        """The newest calls of the run, oldest first, at most ``max_history`` of them."""
        return self._calls

    @property
    def current(self) -> ToolCall:
        """The call being judged: the one just admitted, or the one just settled."""
        assert self._current is not None, "a policy is only called about a call"
        return self._current

    @property
    def last(self) -> ToolCall:
        """The newest call of the run (the current one, unless calls overlap)."""
        return self._calls[-1]

    def is_allowed(self, tool: str) -> bool:
        """Whether ``tool`` is on the guard's allow-list (it may poll and repeat freely)."""
        return tool in self._allow

    @property
    def repeat_run(self) -> int:
        """How many of the newest calls in a row are the same call (same tool and arguments)."""
        return self._repeat_run

    def cycle_steps(self, period: int) -> int:
        """How many of the newest calls follow a cycle of ``period`` calls (A-B-A-B: period 2).

        That is ``period`` plus the number of newest calls equal to the call ``period``
        before them. A result below ``2 * period`` means the cycle has not come round twice.
        Only periods up to the largest any policy of the guard asked for are counted; others
        give 0.
        """
        if not 1 <= period < len(self._period_runs):
            return 0
        run = self._period_runs[period]
        return run + period if run else 0

    def cycle_calls(self, period: int) -> tuple[ToolCall, ...]:
        """The newest ``period`` calls: one turn of the cycle."""
        calls = self._calls
        return tuple(calls[index] for index in range(-min(period, len(calls)), 0))

    def cycle_first(self, period: int, steps: int) -> ToolCall:
        """The call of the current turn at the position where the cycle began."""
        return self._calls[-((steps - 1) % period + 1)]

    @property
    def same_results(self) -> int:
        """How many times in a row the current call has returned the same result.

        Counted over calls with the same tool and arguments, each within ``max_history``
        calls of the previous one. While the current call is being admitted it counts the
        calls before it; once settled, the current call too (0 if it failed or its result
        is unknown).
        """
        call = self.current
        if call.settled and (call.failed or call.outcome is None):
            return 0
        answers = self._results.get(call.key)
        if answers is None or not self._fresh(answers.seq):
            return 0
        return answers.count

    @property
    def same_errors(self) -> int:
        """How many settled calls in a row failed with the same error from the current tool.

        While the current call is being admitted, counted only when it repeats the last
        failing call exactly (same tool and arguments); once settled, only when it is the
        latest of those failures.
        """
        streak = self._error_streak
        if streak is None:
            return 0
        call = self.current
        last = streak[3]
        if call.settled:
            return streak[2] if last is call else 0
        return streak[2] if last.key == call.key else 0

    # -- what the guard does --------------------------------------------------------------

    def _fresh(self, seq: int) -> bool:
        return seq > self._seq - self._max_history

    def _admit(self, key: tuple[str, Key]) -> ToolCall:
        calls = self._calls
        self._seq += 1
        call = ToolCall(key, self._seq, self.run_id)
        self._repeat_run = self._repeat_run + 1 if calls and calls[-1]._key == key else 1
        runs = self._period_runs
        size = len(calls)
        for period in range(2, len(runs)):
            runs[period] = runs[period] + 1 if size >= period and calls[-period]._key == key else 0
        calls.append(call)
        self._current = call
        return call

    def _settle(self, call: ToolCall, outcome: Key | None, *, failed: bool) -> None:
        call._outcome = outcome
        call._failed = failed
        call._settled = True
        self._current = call
        if outcome is None:
            return
        if failed:
            self._results.pop(call._key, None)
            streak = self._error_streak
            if streak is not None and streak[0] == call.tool and streak[1] == outcome:
                self._error_streak = (call.tool, outcome, streak[2] + 1, call)
            else:
                self._error_streak = (call.tool, outcome, 1, call)
            return
        self._error_streak = None
        answers = self._results.get(call._key)
        if answers is not None and answers.outcome == outcome and self._fresh(answers.seq):
            answers.count += 1
            answers.seq = call._seq
        else:
            self._results[call._key] = _Answers(outcome, call._seq)
            if len(self._results) > 2 * self._max_history:
                self._prune()

    def _prune(self) -> None:
        self._results = {key: a for key, a in self._results.items() if self._fresh(a.seq)}
