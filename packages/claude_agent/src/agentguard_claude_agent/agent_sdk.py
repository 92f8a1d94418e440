"""Guard agents run by the Claude Agent SDK: hooks for its loop, events for its runs.

::

    guard = ClaudeAgentGuard("coder", loop_guard=LoopGuard(), max_cost_usd=0.50)
    options = guard.options(ClaudeAgentOptions(model="claude-sonnet-4-5", ...))
    async for message in guard.watch(query(prompt="fix the bug", options=options)):
        ...  # the messages the SDK yields, unchanged

The hooks :meth:`~ClaudeAgentGuard.options` merges publish ``ToolCallFinished`` and deny a
looping or over-budget tool call; :meth:`~ClaudeAgentGuard.watch` publishes the run and its
priced model requests. The trap: per-request usage needs the partial messages ``options``
turns on (``watch`` hides them again); without them a run is priced once from the
``ResultMessage``, never both ways. Each door, and the check against the CLI's own cost:
docs/architecture.md, "Agents Anthropic's tooling runs".
"""

from __future__ import annotations

import contextvars
import dataclasses
import math
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

from claude_agent_sdk import (
    ClaudeAgentOptions,
    HookContext,
    HookInput,
    HookJSONOutput,
    HookMatcher,
    ResultMessage,
    StreamEvent,
    SystemMessage,
)

from agentguard import Bus, default_bus
from agentguard.context import RunContext, new_id, run_context
from agentguard.errorkinds import status_kind
from agentguard.events import BudgetExceeded, BudgetScope, RunFinished, RunStarted, ToolCallFinished
from agentguard_claude_agent._calls import EPISODES, default_prices, llm_call, publish
from agentguard_loopguard import LoopGuard, ToolLoopDetected
from agentguard_trace.pricing import PriceTable
from agentguard_trace.usage import Usage, read_usage

if TYPE_CHECKING:
    from claude_agent_sdk.types import HookEvent

__all__ = ["ClaudeAgentGuard", "GuardedRun"]

_R = TypeVar("_R")
_MAX_RUNS: Final = 1000
_MAX_PENDING_TOOLS: Final = 1000
_MISMATCH_TOLERANCE: Final = 1e-4
"""Relative difference between the CLI's cost and ours that is still agreement."""


@dataclass
class _Turn:
    """The model request being streamed."""

    model: str
    began_s: float
    usage: dict[str, Any]
    stop_reason: str | None = None


@dataclass
class GuardedRun:
    """One agent run as the guard knows it; :attr:`ClaudeAgentGuard.runs` keeps the latest."""

    context: RunContext
    """Our run id, the agent, and the session (the CLI's session id when it was known)."""
    started_s: float
    """``time.perf_counter()`` when the run started."""
    spent_usd: float = 0.0
    """What the run's priced model requests cost."""
    unpriced_calls: int = 0
    """Model requests that could not be priced (then the run's cost is unknown)."""
    calls: int = 0
    """Model requests published as ``LLMCallFinished``."""
    reported_cost_usd: float | None = None
    """The ``ResultMessage``'s ``total_cost_usd`` (the CLI's own price list)."""
    num_turns: int | None = None
    """The ``ResultMessage``'s ``num_turns``."""
    finished: bool = False
    """Whether ``RunFinished`` was published."""
    budget_crossed: BudgetScope | None = None
    """The budget this run spent, once it did."""
    denied: int = 0
    """Tool calls the guard denied."""
    _tools: OrderedDict[str, tuple[str, float, Any]] = field(default_factory=OrderedDict)
    _turns: dict[str | None, _Turn] = field(default_factory=dict)
    _context: contextvars.Context | None = None

    @property
    def cost_usd(self) -> float | None:
        """What the run cost so far; ``None`` when a request was unpriced."""
        return None if self.unpriced_calls else self.spent_usd


class ClaudeAgentGuard:
    """The bus, the loop guard and budgets for agents the Claude Agent SDK runs.

    Args:
        agent: The agent's name on every event.
        bus: Where events go; the default bus when ``None``.
        loop_guard: Judges each tool call before it runs; a call it stops is denied. ``None``
            watches no loops.
        max_cost_usd: Budget of each run: once spent, every further tool call is denied.
        session_max_cost_usd: Budget of each CLI session across its runs (a
            ``ClaudeSDKClient`` conversation, or ``resume``).
        prices: Prices model requests; the tracer's genai-prices table by default.
        clock: Seconds, monotonic; durations run on it.

    Raises:
        TypeError, ValueError: A bad argument, at once.
    """

    def __init__(
        self,
        agent: str,
        *,
        bus: Bus | None = None,
        loop_guard: LoopGuard | None = None,
        max_cost_usd: float | None = None,
        session_max_cost_usd: float | None = None,
        prices: PriceTable | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if type(agent) is not str or not agent:
            raise ValueError(f"agent must be a non-empty string, got {agent!r}")
        if bus is not None and not isinstance(bus, Bus):
            raise TypeError(f"bus must be an agentguard.Bus, got {bus!r}")
        if loop_guard is not None and not isinstance(loop_guard, LoopGuard):
            raise TypeError(
                f"loop_guard must be an agentguard_loopguard.LoopGuard, got {loop_guard!r}"
            )
        if prices is not None and not isinstance(prices, PriceTable):
            raise TypeError(f"prices must be an agentguard_trace.PriceTable, got {prices!r}")
        self.agent: Final = agent
        self.loop_guard: Final = loop_guard
        self.max_cost_usd: Final = _budget("max_cost_usd", max_cost_usd)
        self.session_max_cost_usd: Final = _budget("session_max_cost_usd", session_max_cost_usd)
        self._bus = bus or default_bus
        self._prices = prices
        self._clock = clock
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, GuardedRun] = OrderedDict()
        self._sessions: OrderedDict[str, list[float]] = OrderedDict()
        self._forward_partial = True
        self.cost_mismatches = 0
        """Runs whose ``ResultMessage.total_cost_usd`` disagreed with our priced sum."""

    def __repr__(self) -> str:
        return f"ClaudeAgentGuard({self.agent!r}, max_cost_usd={self.max_cost_usd!r})"

    # -- the options ----------------------------------------------------------------------

    def hooks(self) -> dict[HookEvent, list[HookMatcher]]:
        """The hook matchers to merge into ``ClaudeAgentOptions.hooks`` (every tool)."""
        return {
            "PreToolUse": [HookMatcher(hooks=[self._pre_tool_use])],
            "PostToolUse": [HookMatcher(hooks=[self._post_tool_use])],
            "PostToolUseFailure": [HookMatcher(hooks=[self._post_tool_use])],
        }

    def options(self, options: ClaudeAgentOptions | None = None) -> ClaudeAgentOptions:
        """A copy of ``options`` with the guard's hooks added after the user's own.

        It also turns on ``include_partial_messages``, the per-request usage
        :meth:`watch` prices; :meth:`watch` passes those messages on only if ``options``
        had asked for them.
        """
        if options is None:
            options = ClaudeAgentOptions()
        elif not isinstance(options, ClaudeAgentOptions):
            raise TypeError(f"options must be a ClaudeAgentOptions, got {options!r}")
        merged: dict[HookEvent, list[HookMatcher]] = {
            event: list(matchers) for event, matchers in (options.hooks or {}).items()
        }
        for event, matchers in self.hooks().items():
            merged.setdefault(event, []).extend(matchers)
        self._forward_partial = options.include_partial_messages
        return dataclasses.replace(options, hooks=merged, include_partial_messages=True)

    # -- the message stream ---------------------------------------------------------------

    async def watch(self, messages: AsyncIterable[_R]) -> AsyncIterator[_R]:
        """Yield the SDK's messages unchanged while publishing the run's events.

        Wrap ``query(...)`` or ``ClaudeSDKClient.receive_response()``: one run per
        ``ResultMessage``. A stream that ends or fails without one finishes its run with
        ``ok=False``.
        """
        started = self._clock()
        run: GuardedRun | None = None
        try:
            async for message in messages:
                run = self._read(message, run, started)
                if isinstance(message, StreamEvent) and not self._forward_partial:
                    continue
                yield message
                if isinstance(message, ResultMessage):
                    run, started = None, self._clock()
        except BaseException as exc:
            if run is not None:
                self._finish(run, ok=False, error_kind=_exception_kind(exc))
            raise
        if run is not None:  # the stream ended without its ResultMessage
            self._finish(run, ok=False, error_kind="unknown")

    @property
    def runs(self) -> tuple[GuardedRun, ...]:
        """The most recent runs (at most 1,000), oldest first."""
        with self._lock:
            return tuple(self._runs.values())

    def _read(self, message: object, run: GuardedRun | None, started: float) -> GuardedRun | None:
        try:
            session_id = getattr(message, "session_id", None)
            if session_id is None and isinstance(message, SystemMessage):
                session_id = message.data.get("session_id")
            if run is None:
                run = self._start(session_id if isinstance(session_id, str) else None, started)
            if isinstance(message, StreamEvent):
                self._stream_event(run, message.event, message.parent_tool_use_id)
            elif isinstance(message, ResultMessage):
                self._result(run, message)
        except Exception as exc:  # noqa: BLE001 (a message we misread never reaches the agent)
            EPISODES.failed("claude_agent.read", "reading an Agent SDK message failed", exc)
        return run

    def _start(self, session_id: str | None, started: float) -> GuardedRun:
        context = RunContext(run_id=new_id(), agent=self.agent, session_id=session_id or new_id())
        run = GuardedRun(context=context, started_s=started)
        with self._lock:
            self._runs[context.session_id] = run
            if len(self._runs) > _MAX_RUNS:
                self._runs.popitem(last=False)
        publish(
            self._bus,
            RunStarted(
                at_unix_s=time.time() - (self._clock() - started),
                run_id=context.run_id,
                agent=context.agent,
                session_id=context.session_id,
            ),
        )
        return run

    def _stream_event(self, run: GuardedRun, event: Mapping[str, Any], thread: str | None) -> None:
        """Follow one request's stream; sub-agents' requests (``thread``) interleave."""
        kind = event.get("type")
        turn = run._turns.get(thread)
        if kind == "message_start":
            message = event.get("message") or {}
            usage = dict(message.get("usage") or {})
            run._turns[thread] = _Turn(str(message.get("model") or ""), self._clock(), usage)
        elif kind == "message_delta" and turn is not None:
            # Running totals: the fields present replace what message_start said.
            turn.usage.update(
                {k: v for k, v in (event.get("usage") or {}).items() if v is not None}
            )
            stop = (event.get("delta") or {}).get("stop_reason")
            turn.stop_reason = stop if isinstance(stop, str) else turn.stop_reason
        elif kind == "message_stop" and turn is not None:
            del run._turns[thread]
            self._spend(
                run,
                turn.model,
                read_usage(turn.usage),
                duration_s=self._clock() - turn.began_s,
                streamed=True,
                stop_reason=turn.stop_reason,
            )

    def _result(self, run: GuardedRun, result: ResultMessage) -> None:
        run.reported_cost_usd = result.total_cost_usd
        run.num_turns = result.num_turns
        if run.calls == 0:
            # No per-request usage in the stream: the run's usage, once, per model.
            for model, usage in _result_usage(result):
                self._spend(run, model, usage, duration_s=result.duration_api_ms / 1000)
        reported, ours = result.total_cost_usd, run.cost_usd
        if (
            reported is not None
            and ours is not None
            and not math.isclose(reported, ours, rel_tol=_MISMATCH_TOLERANCE, abs_tol=1e-9)
        ):
            with self._lock:
                self.cost_mismatches += 1
            EPISODES.failed(
                "claude_agent.cost_mismatch",
                f"the CLI reported ${reported:.6f} for session {run.context.session_id}, "
                f"our prices say ${ours:.6f}",
            )
        kind = None
        if result.is_error:
            status = result.api_error_status
            kind = "unknown" if not status else status_kind(status).value
        self._finish(run, ok=not result.is_error, error_kind=kind)

    def _finish(self, run: GuardedRun, *, ok: bool, error_kind: str | None) -> None:
        if run.finished:
            return
        run.finished = True
        context = run.context
        publish(
            self._bus,
            RunFinished(
                run_id=context.run_id,
                agent=context.agent,
                session_id=context.session_id,
                duration_s=self._clock() - run.started_s,
                ok=ok,
                error_kind=None if ok else error_kind,
                cost_usd=run.cost_usd,
            ),
        )
        if self.loop_guard is not None:
            self.loop_guard.forget(context.run_id)

    def _spend(
        self,
        run: GuardedRun,
        model: str,
        usage: Usage,
        *,
        duration_s: float,
        streamed: bool = False,
        stop_reason: str | None = None,
    ) -> None:
        event = llm_call(
            self._prices or default_prices(),
            model,
            usage,
            run=run.context,
            duration_s=duration_s,
            streamed=streamed,
            stop_reason=stop_reason,
        )
        publish(self._bus, event)
        run.calls += 1
        if event.cost_usd is None:
            run.unpriced_calls += 1
            return
        run.spent_usd = math.fsum((run.spent_usd, event.cost_usd))
        with self._lock:
            spent = self._sessions.setdefault(run.context.session_id, [0.0])
            self._sessions.move_to_end(run.context.session_id)
            if len(self._sessions) > _MAX_RUNS:
                self._sessions.popitem(last=False)
            spent[0] = math.fsum((spent[0], event.cost_usd))
        self._check_budgets(run)

    def _check_budgets(self, run: GuardedRun, in_flight_usd: float = 0.0) -> None:
        with self._lock:
            session = self._sessions.get(run.context.session_id, [0.0])[0]
        self._check_budget(run, "run", self.max_cost_usd, run.spent_usd + in_flight_usd)
        self._check_budget(run, "session", self.session_max_cost_usd, session + in_flight_usd)

    def _in_flight_usd(self, run: GuardedRun) -> float:
        """What the requests being streamed have cost so far (input is known at their start).

        The CLI starts a tool as soon as its block is streamed, before the request's final
        usage: without this, the tool call of the request that spends the budget would run.
        """
        prices = self._prices or default_prices()
        total = 0.0
        for turn in list(run._turns.values()):
            parts = prices.price_parts(turn.model, read_usage(turn.usage).counts())
            total += 0.0 if parts is None else parts[6]
        return total

    def _check_budget(
        self, run: GuardedRun, scope: BudgetScope, limit: float | None, spent: float
    ) -> None:
        if limit is None or spent <= limit or run.budget_crossed is not None:
            return
        run.budget_crossed = scope
        context = run.context
        publish(
            self._bus,
            BudgetExceeded(
                run_id=context.run_id,
                agent=context.agent,
                session_id=context.session_id,
                scope=scope,
                limit_usd=limit,
                spent_usd=spent,
            ),
        )

    # -- the hooks ------------------------------------------------------------------------

    def _run_of(self, hook_input: Mapping[str, Any]) -> GuardedRun:
        session_id = hook_input.get("session_id")
        with self._lock:
            run = self._runs.get(session_id) if isinstance(session_id, str) else None
        if run is None:  # hooks without watch(): tool calls and loops, no run events
            context = RunContext(
                run_id=new_id(),
                agent=self.agent,
                session_id=session_id if isinstance(session_id, str) else new_id(),
            )
            run = GuardedRun(context=context, started_s=self._clock(), finished=True)
            with self._lock:
                run = self._runs.setdefault(context.session_id, run)
        return run

    async def _pre_tool_use(
        self, hook_input: HookInput, tool_use_id: str | None, context: HookContext
    ) -> HookJSONOutput:
        try:
            return self._admit(hook_input, tool_use_id)
        except Exception as exc:  # noqa: BLE001 (a hook of ours never breaks the agent)
            EPISODES.failed("claude_agent.hook", "the PreToolUse hook failed", exc)
            return {}

    def _admit(self, hook_input: Mapping[str, Any], tool_use_id: str | None) -> HookJSONOutput:
        run = self._run_of(hook_input)
        tool = str(hook_input.get("tool_name") or "unknown")
        if run.budget_crossed is None and (
            self.max_cost_usd is not None or self.session_max_cost_usd is not None
        ):
            self._check_budgets(run, self._in_flight_usd(run))
        if run.budget_crossed is not None:
            scope = run.budget_crossed
            limit = self.max_cost_usd if scope == "run" else self.session_max_cost_usd
            return self._deny(
                run,
                f"agentguard: the {scope} budget of ${limit or 0:.2f} is spent "
                f"(${run.spent_usd:.4f}); do not call more tools, finish with what you have.",
            )
        call = None
        if self.loop_guard is not None:
            guard = self.loop_guard
            args = hook_input.get("tool_input")
            try:
                call = _in_run(run, lambda: guard.before(tool, args))
            except ToolLoopDetected as loop:
                return self._deny(
                    run,
                    f"agentguard: {tool} was refused: the same {loop.pattern} of tool calls "
                    f"{loop.repeats} times is a loop. Change approach or finish.",
                )
        key = tool_use_id or str(hook_input.get("tool_use_id") or "")
        with self._lock:
            run._tools[key] = (tool, self._clock(), call)
            if len(run._tools) > _MAX_PENDING_TOOLS:
                run._tools.popitem(last=False)
        return {}

    def _deny(self, run: GuardedRun, reason: str) -> HookJSONOutput:
        run.denied += 1
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        }

    async def _post_tool_use(
        self, hook_input: HookInput, tool_use_id: str | None, context: HookContext
    ) -> HookJSONOutput:
        try:
            self._settle(hook_input, tool_use_id)
        except Exception as exc:  # noqa: BLE001 (a hook of ours never breaks the agent)
            EPISODES.failed("claude_agent.hook", "the PostToolUse hook failed", exc)
        return {}

    def _settle(self, hook_input: Mapping[str, Any], tool_use_id: str | None) -> None:
        run = self._run_of(hook_input)
        key = tool_use_id or str(hook_input.get("tool_use_id") or "")
        with self._lock:
            pending = run._tools.pop(key, None)
        now = self._clock()
        tool = str(hook_input.get("tool_name") or "unknown")
        failed = hook_input.get("hook_event_name") == "PostToolUseFailure"
        if pending is not None:
            tool, began, call = pending
            duration_s = now - began
        else:  # admitted before the guard was attached: the CLI's own timing
            duration_ms = hook_input.get("duration_ms")
            duration_s = duration_ms / 1000 if isinstance(duration_ms, int) else 0.0
            call = None
        kind = None
        if failed:
            kind = "cancelled" if hook_input.get("is_interrupt") else "tool_error"
        context = run.context
        publish(
            self._bus,
            ToolCallFinished(
                run_id=context.run_id,
                agent=context.agent,
                session_id=context.session_id,
                tool=tool,
                duration_s=duration_s,
                ok=not failed,
                error_kind=kind,
            ),
        )
        if call is not None and self.loop_guard is not None:
            guard = self.loop_guard
            error = str(hook_input.get("error") or "error") if failed else None
            result = None if failed else hook_input.get("tool_response")
            try:
                if failed:
                    _in_run(run, lambda: guard.after(call, error=error))
                else:
                    _in_run(run, lambda: guard.after(call, result=result))
            except ToolLoopDetected:
                pass  # published; the next call that goes on with the loop is denied


def _in_run(run: GuardedRun, fn: Callable[[], _R]) -> _R:
    """Call ``fn`` with the run as the current run (the loop guard keys its state by it).

    The SDK calls hooks from its own task, whose context is not the run's. The run's context
    is made once and copied per call (a copy is cheap, and never entered twice at once).
    """
    context = run._context
    if context is None:

        def capture() -> contextvars.Context:
            ids = run.context
            with run_context(ids.agent, run_id=ids.run_id, session_id=ids.session_id):
                return contextvars.copy_context()

        context = run._context = contextvars.Context().run(capture)
    return context.copy().run(fn)


def _result_usage(result: ResultMessage) -> list[tuple[str, Usage]]:
    """The run's usage per model: ``model_usage`` (camelCase) when given, else ``usage``."""
    per_model = result.model_usage or {}
    found: list[tuple[str, Usage]] = []
    for model, raw in per_model.items():
        item: Mapping[str, Any] = raw
        found.append(
            (
                model,
                read_usage(
                    {
                        "input_tokens": item.get("inputTokens"),
                        "output_tokens": item.get("outputTokens"),
                        "cache_read_input_tokens": item.get("cacheReadInputTokens"),
                        "cache_creation": {
                            "ephemeral_5m_input_tokens": item.get(
                                "cacheCreationEphemeral5mInputTokens",
                                item.get("cacheCreationInputTokens"),
                            ),
                            "ephemeral_1h_input_tokens": item.get(
                                "cacheCreationEphemeral1hInputTokens"
                            ),
                        },
                        "server_tool_use": {"web_search_requests": item.get("webSearchRequests")},
                    }
                ),
            )
        )
    if not found and result.usage:
        found.append(("", read_usage(result.usage)))
    return found


def _exception_kind(exc: BaseException) -> str:
    if (
        isinstance(exc, (GeneratorExit, KeyboardInterrupt))
        or type(exc).__name__ == "CancelledError"
    ):
        return "cancelled"
    return "unknown"


def _budget(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of US dollars, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)
