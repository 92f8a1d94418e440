"""Agent runs (``@traced``) and tool calls (``@tool``): ``@x``, ``@x(...)`` or ``with x(...)``.

A run makes its agent, run id and session current for the code inside it (see
:mod:`agentguard.context`), publishes ``RunStarted`` and ``RunFinished`` (with what its LLM
calls cost, nested runs included), and keeps its budgets: ``max_cost_usd`` for the run,
``session_max_cost_usd`` for its session. Crossing one publishes ``BudgetExceeded`` once; with
``stop_on_budget=True`` the next LLM call through an instrumented client raises
:class:`~agentguard_trace.errors.BudgetExceededError` instead of being made. A tool call
publishes ``ToolCallFinished``. Sync functions and coroutine functions alike.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, overload

from agentguard import Bus, default_bus
from agentguard.context import RunContext, run_context
from agentguard.events import RunFinished, RunStarted, ToolCallFinished
from agentguard.scope import Scope
from agentguard_trace._errors import error_kind
from agentguard_trace._ledger import CURRENT_LEDGER, RunLedger, session_account
from agentguard_trace.errors import BudgetExceededError as BudgetExceededError  # noqa: PLC0414 (its old home: `as` re-exports for mypy)

__all__ = ["Run", "RunScope", "ToolScope", "tool", "traced"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _check_name(what: str, value: object) -> str | None:
    if value is not None and (type(value) is not str or not value):
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _check_budget(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of US dollars, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


@dataclass
class Run:
    """A run in progress, as the ``with traced(...)`` block sees it."""

    context: RunContext
    """The run's agent, run id and session."""
    ledger: RunLedger
    """What the run has spent."""
    started_s: float
    """``time.perf_counter()`` at the start."""
    started_unix_s: float
    """``time.time()`` at the start."""
    _exit: AbstractContextManager[RunContext]
    _ledger_token: Any

    @property
    def cost_usd(self) -> float | None:
        """What the run's LLM calls have cost so far; ``None`` if any was unpriced."""
        return self.ledger.cost_usd


class RunScope(Scope[Run]):
    """An agent run; see :func:`traced`."""

    def __init__(
        self,
        agent: str | None,
        *,
        bus: Bus | None,
        session_id: str | None,
        max_cost_usd: float | None,
        session_max_cost_usd: float | None,
        stop_on_budget: bool,
    ) -> None:
        super().__init__()
        self._agent = _check_name("agent", agent)
        self._bus = bus
        self._session_id = session_id
        self._max_cost_usd = _check_budget("max_cost_usd", max_cost_usd)
        self._session_max_cost_usd = _check_budget("session_max_cost_usd", session_max_cost_usd)
        self._stop = bool(stop_on_budget)

    def _begin(self, name: str | None) -> Run:
        agent = self._agent or name
        if agent is None:
            raise TypeError('with traced(...) needs an agent name: with traced(agent="support")')
        bus = self._bus or default_bus
        scope = run_context(agent, session_id=self._session_id)
        context = scope.__enter__()
        ledger = RunLedger(
            context,
            parent=CURRENT_LEDGER.get(),
            limit_usd=self._max_cost_usd,
            session=session_account(
                context.session_id, self._session_max_cost_usd, stop=self._stop
            ),
            stop=self._stop,
            bus=bus,
        )
        token = CURRENT_LEDGER.set(ledger)
        run = Run(context, ledger, time.perf_counter(), time.time(), scope, token)
        bus.publish(RunStarted(at_unix_s=run.started_unix_s, parent_run_id=context.parent_run_id))
        return run

    def _end(self, state: Run, error: BaseException | None) -> None:
        bus = self._bus or default_bus
        try:
            bus.publish(
                RunFinished(
                    duration_s=time.perf_counter() - state.started_s,
                    ok=error is None,
                    error_kind=None if error is None else error_kind(error),
                    cost_usd=state.ledger.cost_usd,
                )
            )
        finally:
            CURRENT_LEDGER.reset(state._ledger_token)
            state._exit.__exit__(None, None, None)


@overload
def traced(fn: Callable[_P, _R], /) -> Callable[_P, _R]: ...
@overload
def traced(
    *,
    agent: str | None = None,
    bus: Bus | None = None,
    session_id: str | None = None,
    max_cost_usd: float | None = None,
    session_max_cost_usd: float | None = None,
    stop_on_budget: bool = False,
) -> RunScope: ...
def traced(
    fn: Callable[_P, _R] | None = None,
    /,
    *,
    agent: str | None = None,
    bus: Bus | None = None,
    session_id: str | None = None,
    max_cost_usd: float | None = None,
    session_max_cost_usd: float | None = None,
    stop_on_budget: bool = False,
) -> Callable[_P, _R] | RunScope:
    """Measure an agent run, as a bare decorator, a decorator with options or a ``with`` block.

    Args:
        fn: The function, when used as a bare ``@traced``.
        agent: The agent's name; a decorated function's name by default.
        bus: Where events go; the default bus by default.
        session_id: Session of a top-level run (a nested run keeps its parent's).
        max_cost_usd: Budget of each run.
        session_max_cost_usd: Budget of the run's session, across its runs.
        stop_on_budget: Refuse LLM calls once a budget is spent (:class:`BudgetExceededError`).

    Raises:
        TypeError, ValueError: Bad arguments, at once.
    """
    scope = RunScope(
        agent,
        bus=bus,
        session_id=session_id,
        max_cost_usd=max_cost_usd,
        session_max_cost_usd=session_max_cost_usd,
        stop_on_budget=stop_on_budget,
    )
    return scope if fn is None else scope(fn)


@dataclass
class _ToolCall:
    name: str
    started_s: float


class ToolScope(Scope[_ToolCall]):
    """A tool call; see :func:`tool`."""

    def __init__(self, name: str | None, *, bus: Bus | None) -> None:
        super().__init__()
        self._name = _check_name("tool name", name)
        self._bus = bus

    def _begin(self, name: str | None) -> _ToolCall:
        tool_name = self._name or name
        if tool_name is None:
            raise TypeError('with tool(...) needs a tool name: with tool("search")')
        return _ToolCall(tool_name, time.perf_counter())

    def _end(self, state: _ToolCall, error: BaseException | None) -> None:
        (self._bus or default_bus).publish(
            ToolCallFinished(
                tool=state.name,
                duration_s=time.perf_counter() - state.started_s,
                ok=error is None,
                error_kind=None if error is None else error_kind(error),
            )
        )


@overload
def tool(fn: Callable[_P, _R], /) -> Callable[_P, _R]: ...
@overload
def tool(name: str | None = None, /, *, bus: Bus | None = None) -> ToolScope: ...
def tool(
    fn_or_name: Callable[_P, _R] | str | None = None, /, *, bus: Bus | None = None
) -> Callable[_P, _R] | ToolScope:
    """Measure a tool call, as a bare decorator, a decorator with a name or a ``with`` block.

    Args:
        fn_or_name: The function (bare ``@tool``) or the tool's name (by default the
            decorated function's name).
        bus: Where events go; the default bus by default.
    """
    if callable(fn_or_name):
        return ToolScope(None, bus=bus)(fn_or_name)
    return ToolScope(fn_or_name, bus=bus)
