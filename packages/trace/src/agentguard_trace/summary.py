"""The session summary: what a session did, how long it took and what it cost.

:class:`SessionRecorder` is a subscriber. Attach it to a bus, run the agent, then ask it for
a :class:`SessionSummary` (a tree of frozen dataclasses), print it, or export it::

    recorder = SessionRecorder()
    with recorder:  # attaches to the default bus; closing keeps what was recorded
        run_my_agent()
    print_summary(recorder)
    recorder.export_csv("steps.csv")

A *step* is one LLM call (:class:`~agentguard.events.LLMCallFinished`) or one tool call
(:class:`~agentguard.events.ToolCallFinished`). The recorder also counts runs, classified
errors, budget crossings and loop detections.

Memory: the recorder keeps one :class:`StepRecord` row per step (about 200 to 300 bytes
each) for the exports and the step-time percentiles, up to ``max_steps`` rows (100,000 by
default, some 20 to 30 MB). Past that, only the aggregates grow (counts, sums, maxima,
per-tool and per-model figures, the slowest steps, which stay exact), the rows not kept are
counted in :attr:`SessionSummary.steps_dropped`, and p50/p95 describe the kept rows only. A
session of millions of steps therefore needs a ``max_steps`` chosen for it, or ``0`` to keep
aggregates only. The aggregates grow with the number of distinct tools, models and error
kinds, never with the number of steps.

Dollars are summed as decimals (each float read as its shortest ``repr``), so the total
equals the sum of the components exactly before it is turned back into a float. A call
whose model is unpriced (``cost_usd`` is ``None``) makes the session total unknown: the
summary then reports the known part and how many calls were unpriced, never a silent $0.

Bad values never reach the agent: the recorder runs inside the bus, which isolates it, and
a non-finite or negative duration or a non-finite cost is counted in
:attr:`SessionSummary.invalid_values` (a duration then counts as 0 s, a cost as unpriced).
"""

from __future__ import annotations

import csv
import heapq
import json
import math
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Context, Decimal
from types import TracebackType
from typing import IO, Any, Final, Literal, TypeAlias

from agentguard.bus import Bus, Subscription, default_bus
from agentguard.events import (
    BudgetExceeded,
    ErrorClassified,
    Event,
    LLMCallFinished,
    LoopDetected,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)

__all__ = [
    "CSV_COLUMNS",
    "CostBreakdown",
    "ErrorCount",
    "ModelStats",
    "RunCounts",
    "SessionRecorder",
    "SessionSummary",
    "SlowStep",
    "StepKind",
    "StepRecord",
    "StepTimes",
    "TokenCounts",
    "ToolStats",
    "print_summary",
]

StepKind: TypeAlias = Literal["llm", "tool"]
"""What a step was: an LLM call or a tool call."""

CSV_COLUMNS: Final[tuple[str, ...]] = (
    "step",
    "at_unix_s",
    "kind",
    "name",
    "run_id",
    "agent",
    "session_id",
    "duration_s",
    "ok",
    "error_kind",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cost_usd",
    "retries",
)
"""The columns of :meth:`SessionRecorder.export_csv`, in order (also the keys of a JSON row)."""

_DECIMAL: Final = Context(prec=60)
_ZERO: Final = Decimal(0)
_COMPONENTS: Final = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
_JSON_FORMAT: Final = "agentguard.session_summary"
_JSON_VERSION: Final = 1

_PathOrFile: TypeAlias = "str | os.PathLike[str] | IO[str]"


# --- the summary tree ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    """One step as recorded: a row of the CSV export."""

    step: int
    """Position of the step in the session, from 1, in order of arrival."""
    at_unix_s: float
    """When the step ended, in seconds since the Unix epoch."""
    kind: StepKind
    """``llm`` or ``tool``."""
    name: str
    """The tool's name, or the model of an LLM call."""
    run_id: str | None
    """The run the step belongs to, if any."""
    agent: str | None
    """The agent of that run, if any."""
    session_id: str | None
    """The session of that run, if any."""
    duration_s: float
    """Wall-clock duration of the step in seconds."""
    ok: bool
    """Whether the step succeeded."""
    error_kind: str | None = None
    """The classified kind of its error, if it failed and was classified."""
    input_tokens: int = 0
    """Uncached input tokens (LLM calls only)."""
    output_tokens: int = 0
    """Output tokens (LLM calls only)."""
    cache_read_tokens: int = 0
    """Input tokens read from the prompt cache (LLM calls only)."""
    cache_write_5m_tokens: int = 0
    """Input tokens written to the cache for 5 minutes (LLM calls only)."""
    cache_write_1h_tokens: int = 0
    """Input tokens written to the cache for 1 hour (LLM calls only)."""
    cost_usd: float | None = None
    """Cost of the call in US dollars; ``None`` for tools and unpriced calls."""
    retries: int = 0
    """Attempts the SDK retried inside the call (LLM calls only)."""

    def to_dict(self) -> dict[str, object]:
        """The row as a JSON-ready dict with the keys of :data:`CSV_COLUMNS`."""
        return {name: getattr(self, name) for name in CSV_COLUMNS}


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenCounts:
    """Tokens by type (Anthropic usage: ``input_tokens`` excludes cache reads and writes)."""

    input_tokens: int = 0
    """Input tokens neither read from nor written to the prompt cache."""
    output_tokens: int = 0
    """Output tokens."""
    cache_read_tokens: int = 0
    """Input tokens read from the prompt cache."""
    cache_write_5m_tokens: int = 0
    """Input tokens written to the prompt cache with the 5-minute lifetime."""
    cache_write_1h_tokens: int = 0
    """Input tokens written to the prompt cache with the 1-hour lifetime."""

    @property
    def total_tokens(self) -> int:
        """Every token counted here."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CostBreakdown:
    """Dollars by token type, over the priced calls only."""

    input_usd: float = 0.0
    """Cost of uncached input tokens."""
    output_usd: float = 0.0
    """Cost of output tokens."""
    cache_read_usd: float = 0.0
    """Cost of cache reads."""
    cache_write_5m_usd: float = 0.0
    """Cost of 5-minute cache writes."""
    cache_write_1h_usd: float = 0.0
    """Cost of 1-hour cache writes."""
    other_usd: float = 0.0
    """The part of priced calls' ``cost_usd`` that their component fields did not cover
    (0 when producers fill every component, as ``agentguard_trace`` does)."""
    known_usd: float = 0.0
    """The sum of the components above: the cost of every priced call."""
    priced_calls: int = 0
    """Calls with a known cost."""
    unpriced_calls: int = 0
    """Calls whose model had no price; their cost is unknown, not zero."""

    @property
    def total_usd(self) -> float | None:
        """The whole cost, or ``None`` when an unpriced call makes it unknown."""
        return None if self.unpriced_calls else self.known_usd


@dataclass(frozen=True, slots=True, kw_only=True)
class StepTimes:
    """How long steps took, in seconds. ``None`` where there were no steps."""

    avg_s: float | None = None
    """Mean over every step."""
    p50_s: float | None = None
    """Median (nearest rank) over the recorded step rows."""
    p95_s: float | None = None
    """95th percentile (nearest rank) over the recorded step rows."""
    max_s: float | None = None
    """The longest step."""
    total_s: float = 0.0
    """Sum over every step (steps may overlap, so this can exceed the session's duration)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCounts:
    """Agent runs seen in the session."""

    total: int = 0
    """Runs started (or finished, if more finished than were seen starting)."""
    succeeded: int = 0
    """Runs that finished normally."""
    failed: int = 0
    """Runs that finished with an error."""

    @property
    def unfinished(self) -> int:
        """Runs started but not (yet) finished."""
        return self.total - self.succeeded - self.failed


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolStats:
    """One tool's calls."""

    tool: str
    """Name of the tool."""
    calls: int
    """Calls made."""
    ok_calls: int
    """Calls that returned normally."""
    total_s: float
    """Time spent in the tool, in seconds."""
    avg_s: float
    """Mean duration of a call, in seconds."""
    max_s: float
    """Longest call, in seconds."""

    @property
    def success_rate(self) -> float:
        """``ok_calls / calls``, between 0 and 1."""
        return self.ok_calls / self.calls


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelStats:
    """One model's LLM calls."""

    model: str
    """The model."""
    calls: int
    """Calls made."""
    ok_calls: int
    """Calls that succeeded."""
    total_s: float
    """Time spent in calls, in seconds."""
    avg_s: float
    """Mean duration of a call, in seconds."""
    max_s: float
    """Longest call, in seconds."""
    retries: int
    """Attempts the SDK retried, over all calls."""
    tokens: TokenCounts
    """Tokens by type."""
    cost: CostBreakdown
    """Dollars by token type, and the unpriced calls."""

    @property
    def success_rate(self) -> float:
        """``ok_calls / calls``, between 0 and 1."""
        return self.ok_calls / self.calls


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorCount:
    """How often one kind of error was classified."""

    source: str
    """Where it came from: ``llm``, ``tool`` or ``other``."""
    error_kind: str
    """The classified kind (an ``ErrorKind`` value)."""
    count: int
    """Times it was classified."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SlowStep:
    """One of the slowest steps."""

    step: int
    """Position of the step in the session, from 1."""
    kind: StepKind
    """``llm`` or ``tool``."""
    name: str
    """The tool's name, or the model."""
    duration_s: float
    """How long it took, in seconds."""
    run_id: str | None
    """The run it belonged to, if any."""
    at_unix_s: float
    """When it ended, in seconds since the Unix epoch."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSummary:
    """Everything :class:`SessionRecorder` knows about a session, at one moment."""

    session_id: str | None = None
    """The session the recorder was limited to, or ``None`` if it recorded every event."""
    started_at_unix_s: float | None = None
    """When the earliest event began (a finished call or run began ``duration_s`` before
    its ``at_unix_s``); ``None`` when nothing was recorded."""
    ended_at_unix_s: float | None = None
    """The latest ``at_unix_s`` recorded; ``None`` when nothing was recorded."""
    duration_s: float = 0.0
    """Wall-clock time from :attr:`started_at_unix_s` to :attr:`ended_at_unix_s`."""
    runs: RunCounts = field(default_factory=RunCounts)
    """Agent runs."""
    steps: int = 0
    """LLM calls plus tool calls."""
    llm_calls: int = 0
    """LLM calls."""
    tool_calls: int = 0
    """Tool calls."""
    ok_steps: int = 0
    """Steps that succeeded."""
    step_time: StepTimes = field(default_factory=StepTimes)
    """How long steps took."""
    tools: tuple[ToolStats, ...] = ()
    """Per tool, most called first (then by name)."""
    models: tuple[ModelStats, ...] = ()
    """Per model, most called first (then by name)."""
    tokens: TokenCounts = field(default_factory=TokenCounts)
    """Tokens by type over every LLM call."""
    cost: CostBreakdown = field(default_factory=CostBreakdown)
    """Dollars by token type over every LLM call."""
    retries: int = 0
    """Attempts the SDK retried, over every LLM call."""
    errors: tuple[ErrorCount, ...] = ()
    """Classified errors by source and kind, most frequent first."""
    budget_exceeded: int = 0
    """Budget crossings."""
    loops_detected: int = 0
    """Tool-call loops the loop guard recognised (warnings and stops)."""
    slowest: tuple[SlowStep, ...] = ()
    """The slowest steps, slowest first (earlier first among equals)."""
    steps_recorded: int = 0
    """Step rows kept for the exports (at most the recorder's ``max_steps``)."""
    steps_dropped: int = 0
    """Steps counted in the aggregates whose rows were not kept (past ``max_steps``)."""
    invalid_values: int = 0
    """Non-finite or negative durations and non-finite costs that were set aside."""

    @property
    def failed_steps(self) -> int:
        """Steps that failed."""
        return self.steps - self.ok_steps

    @property
    def success_rate(self) -> float | None:
        """``ok_steps / steps``, or ``None`` when there were no steps."""
        return self.ok_steps / self.steps if self.steps else None

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (tuples become lists; derived values included)."""
        data: dict[str, Any] = json.loads(json.dumps(asdict(self), allow_nan=False))
        data["failed_steps"] = self.failed_steps
        data["success_rate"] = self.success_rate
        data["runs"]["unfinished"] = self.runs.unfinished
        data["cost"]["total_usd"] = self.cost.total_usd
        data["tokens"]["total_tokens"] = self.tokens.total_tokens
        for tool_data, tool in zip(data["tools"], self.tools, strict=True):
            tool_data["success_rate"] = tool.success_rate
        for model_data, model in zip(data["models"], self.models, strict=True):
            model_data["success_rate"] = model.success_rate
            model_data["cost"]["total_usd"] = model.cost.total_usd
            model_data["tokens"]["total_tokens"] = model.tokens.total_tokens
        return data

    def render(self, *, title: str = "Session Performance Summary") -> str:
        """The summary as aligned plain text, for a terminal or a log."""
        return _render(self, title)


# --- recording ----------------------------------------------------------------------------


class _Timing:
    __slots__ = ("calls", "max_s", "ok", "total_s")

    def __init__(self) -> None:
        self.calls = 0
        self.ok = 0
        self.total_s = 0.0
        self.max_s = 0.0

    def add(self, duration_s: float, ok: bool) -> None:
        self.calls += 1
        self.ok += ok
        self.total_s += duration_s
        self.max_s = max(self.max_s, duration_s)


class _Usage:
    """Tokens and decimal dollars of some LLM calls."""

    __slots__ = ("dollars", "other", "priced", "retries", "tokens", "unpriced")

    def __init__(self) -> None:
        self.tokens = [0, 0, 0, 0, 0]
        self.dollars = [_ZERO, _ZERO, _ZERO, _ZERO, _ZERO]
        self.other = _ZERO
        self.priced = 0
        self.unpriced = 0
        self.retries = 0

    def add(self, tokens: tuple[int, ...], costs: tuple[Decimal | None, ...]) -> None:
        for i, count in enumerate(tokens):
            self.tokens[i] += count
        total = costs[-1]
        if total is None:
            self.unpriced += 1
            return
        self.priced += 1
        known = _ZERO
        for i, cost in enumerate(costs[:-1]):
            if cost is not None:
                self.dollars[i] = _DECIMAL.add(self.dollars[i], cost)
                known = _DECIMAL.add(known, cost)
        if any(cost is None for cost in costs[:-1]):
            self.other = _DECIMAL.add(self.other, _DECIMAL.subtract(total, known))

    def merge(self, other: _Usage) -> None:
        for i in range(len(_COMPONENTS)):
            self.tokens[i] += other.tokens[i]
            self.dollars[i] = _DECIMAL.add(self.dollars[i], other.dollars[i])
        self.other = _DECIMAL.add(self.other, other.other)
        self.priced += other.priced
        self.unpriced += other.unpriced
        self.retries += other.retries

    def token_counts(self) -> TokenCounts:
        return TokenCounts(
            **{f"{c}_tokens": n for c, n in zip(_COMPONENTS, self.tokens, strict=True)}
        )

    def cost(self) -> CostBreakdown:
        parts = {f"{c}_usd": float(d) for c, d in zip(_COMPONENTS, self.dollars, strict=True)}
        known = _ZERO
        for d in [*self.dollars, self.other]:
            known = _DECIMAL.add(known, d)
        return CostBreakdown(
            **parts,
            other_usd=float(self.other),
            known_usd=float(known),
            priced_calls=self.priced,
            unpriced_calls=self.unpriced,
        )


class SessionRecorder:
    """Records a session's events and summarises them. Thread-safe.

    Args:
        bus: The bus :meth:`attach` listens on when given none (the default bus if ``None``).
            The recorder does not listen until attached (or entered as a context manager).
        session_id: Record only events of this session; ``None`` records every event.
        max_steps: Step rows to keep for the exports and percentiles; past it only the
            aggregates grow and the overflow is counted (see the module docstring).
        slowest: How many of the slowest steps the summary lists.

    Raises:
        ValueError: ``max_steps`` or ``slowest`` is negative.
    """

    def __init__(
        self,
        bus: Bus | None = None,
        *,
        session_id: str | None = None,
        max_steps: int = 100_000,
        slowest: int = 5,
    ) -> None:
        _check_count("max_steps", max_steps)
        _check_count("slowest", slowest)
        self._bus = bus
        self._session_id = session_id
        self._max_steps = max_steps
        self._slowest = slowest
        self._lock = threading.Lock()
        self._subscription: Subscription | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self._rows: list[StepRecord] = []
        self._steps = 0
        self._ok_steps = 0
        self._dropped = 0
        self._invalid = 0
        self._total_s = 0.0
        self._max_s: float | None = None
        self._first: float | None = None
        self._last: float | None = None
        self._runs_started = 0
        self._runs_ok = 0
        self._runs_failed = 0
        self._tools: dict[str, _Timing] = {}
        self._model_times: dict[str, _Timing] = {}
        self._model_usage: dict[str, _Usage] = {}
        self._errors: dict[tuple[str, str], int] = {}
        self._budget = 0
        self._loops = 0
        self._heap: list[tuple[float, int, SlowStep]] = []

    # -- the subscriber protocol -------------------------------------------------------------

    def attach(self, bus: Bus | None = None) -> Subscription:
        """Start recording the events of ``bus`` (the constructor's bus, else the default bus).

        Raises:
            RuntimeError: The recorder is already attached; :meth:`close` it first.
        """
        with self._lock:
            if self._subscription is not None and not self._subscription.closed:
                raise RuntimeError(
                    "this SessionRecorder is already attached; close() it before attaching "
                    "again, or create one recorder per bus"
                )
            target = bus or self._bus or default_bus
            self._subscription = target.subscribe(self._on_event, name="SessionRecorder")
            return self._subscription

    def close(self) -> None:
        """Stop recording. What was recorded stays readable; calling it again does nothing."""
        with self._lock:
            subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.close()

    def reset(self) -> None:
        """Forget everything recorded so far (the recorder stays attached if it was)."""
        with self._lock:
            self._reset_state()

    def __enter__(self) -> SessionRecorder:
        self.attach()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- recording -----------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if self._session_id is not None and event.session_id != self._session_id:
            return
        if isinstance(event, (LLMCallFinished, ToolCallFinished)):
            self._on_step(event)
        elif isinstance(event, (RunStarted, RunFinished, ErrorClassified, BudgetExceeded)):
            self._on_other(event)
        elif isinstance(event, LoopDetected):
            with self._lock:
                self._loops += 1
                self._seen(event.at_unix_s, 0.0)

    def _on_step(self, event: LLMCallFinished | ToolCallFinished) -> None:
        duration_s, invalid = _duration(event.duration_s)
        tokens: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
        costs: tuple[Decimal | None, ...] = ()
        cost: float | None = None
        retries = 0
        if isinstance(event, LLMCallFinished):
            kind: StepKind = "llm"
            name = event.model
            tokens = (
                event.input_tokens,
                event.output_tokens,
                event.cache_read_tokens,
                event.cache_write_5m_tokens,
                event.cache_write_1h_tokens,
            )
            checked = [
                _dollars(value)
                for value in (
                    event.input_cost_usd,
                    event.output_cost_usd,
                    event.cache_read_cost_usd,
                    event.cache_write_5m_cost_usd,
                    event.cache_write_1h_cost_usd,
                    event.cost_usd,
                )
            ]
            costs = tuple(dollars for dollars, _ in checked)
            invalid += sum(bad for _, bad in checked)
            cost = None if costs[-1] is None else event.cost_usd
            retries = event.retries
        else:
            kind, name = "tool", event.tool
        with self._lock:
            self._steps += 1
            step = self._steps
            self._ok_steps += event.ok
            self._total_s += duration_s
            self._max_s = duration_s if self._max_s is None else max(self._max_s, duration_s)
            self._invalid += invalid
            self._seen(event.at_unix_s, duration_s)
            if kind == "tool":
                _timing(self._tools, name).add(duration_s, event.ok)
            else:
                _timing(self._model_times, name).add(duration_s, event.ok)
                usage = self._model_usage.get(name)
                if usage is None:
                    usage = self._model_usage[name] = _Usage()
                usage.add(tokens, costs)
                usage.retries += retries
            # A min-heap of the slowest steps; among equal durations the later step is
            # the smaller, so it is the one pushed out.
            if self._slowest and (
                len(self._heap) < self._slowest or (duration_s, -step) > self._heap[0][:2]
            ):
                slow = SlowStep(
                    step=step,
                    kind=kind,
                    name=name,
                    duration_s=duration_s,
                    run_id=event.run_id,
                    at_unix_s=event.at_unix_s,
                )
                if len(self._heap) < self._slowest:
                    heapq.heappush(self._heap, (duration_s, -step, slow))
                else:
                    heapq.heapreplace(self._heap, (duration_s, -step, slow))
            if len(self._rows) >= self._max_steps:
                self._dropped += 1
                return
            self._rows.append(
                StepRecord(
                    step=step,
                    at_unix_s=event.at_unix_s,
                    kind=kind,
                    name=name,
                    run_id=event.run_id,
                    agent=event.agent,
                    session_id=event.session_id,
                    duration_s=duration_s,
                    ok=event.ok,
                    error_kind=event.error_kind,
                    input_tokens=tokens[0],
                    output_tokens=tokens[1],
                    cache_read_tokens=tokens[2],
                    cache_write_5m_tokens=tokens[3],
                    cache_write_1h_tokens=tokens[4],
                    cost_usd=cost,
                    retries=retries,
                )
            )

    def _on_other(self, event: RunStarted | RunFinished | ErrorClassified | BudgetExceeded) -> None:
        with self._lock:
            if isinstance(event, RunStarted):
                self._runs_started += 1
                self._seen(event.at_unix_s, 0.0)
            elif isinstance(event, RunFinished):
                if event.ok:
                    self._runs_ok += 1
                else:
                    self._runs_failed += 1
                duration_s, invalid = _duration(event.duration_s)
                self._invalid += invalid
                self._seen(event.at_unix_s, duration_s)
            elif isinstance(event, ErrorClassified):
                key = (event.source, event.error_kind)
                self._errors[key] = self._errors.get(key, 0) + 1
                self._seen(event.at_unix_s, 0.0)
            else:
                self._budget += 1
                self._seen(event.at_unix_s, 0.0)

    def _seen(self, at_unix_s: float, duration_s: float) -> None:
        """Widen the session's time span. Caller holds the lock."""
        if not math.isfinite(at_unix_s):
            self._invalid += 1
            return
        began = at_unix_s - duration_s
        if self._first is None or began < self._first:
            self._first = began
        if self._last is None or at_unix_s > self._last:
            self._last = at_unix_s

    # -- reading -------------------------------------------------------------------------------

    def steps(self) -> tuple[StepRecord, ...]:
        """The recorded step rows, in order of arrival (at most ``max_steps``)."""
        with self._lock:
            return tuple(self._rows)

    def summary(self) -> SessionSummary:
        """The summary of everything recorded so far."""
        with self._lock:
            return self._summary_locked()

    def _summary_locked(self) -> SessionSummary:
        durations = sorted(row.duration_s for row in self._rows)
        tools = tuple(
            ToolStats(
                tool=name,
                calls=t.calls,
                ok_calls=t.ok,
                total_s=t.total_s,
                avg_s=t.total_s / t.calls,
                max_s=t.max_s,
            )
            for name, t in self._tools.items()
        )
        models = []
        total = _Usage()
        for name, t in self._model_times.items():
            usage = self._model_usage[name]
            models.append(
                ModelStats(
                    model=name,
                    calls=t.calls,
                    ok_calls=t.ok,
                    total_s=t.total_s,
                    avg_s=t.total_s / t.calls,
                    max_s=t.max_s,
                    retries=usage.retries,
                    tokens=usage.token_counts(),
                    cost=usage.cost(),
                )
            )
            total.merge(usage)
        first, last = self._first, self._last
        return SessionSummary(
            session_id=self._session_id,
            started_at_unix_s=first,
            ended_at_unix_s=last,
            duration_s=0.0 if first is None or last is None else max(0.0, last - first),
            runs=RunCounts(
                total=max(self._runs_started, self._runs_ok + self._runs_failed),
                succeeded=self._runs_ok,
                failed=self._runs_failed,
            ),
            steps=self._steps,
            llm_calls=sum(t.calls for t in self._model_times.values()),
            tool_calls=sum(t.calls for t in self._tools.values()),
            ok_steps=self._ok_steps,
            step_time=StepTimes(
                avg_s=self._total_s / self._steps if self._steps else None,
                p50_s=_nearest_rank(durations, 0.50),
                p95_s=_nearest_rank(durations, 0.95),
                max_s=self._max_s,
                total_s=self._total_s,
            ),
            tools=tuple(sorted(tools, key=lambda s: (-s.calls, s.tool))),
            models=tuple(sorted(models, key=lambda s: (-s.calls, s.model))),
            tokens=total.token_counts(),
            cost=total.cost(),
            retries=total.retries,
            errors=tuple(
                ErrorCount(source=source, error_kind=kind, count=count)
                for (source, kind), count in sorted(
                    self._errors.items(), key=lambda item: (-item[1], item[0])
                )
            ),
            budget_exceeded=self._budget,
            loops_detected=self._loops,
            slowest=tuple(entry[2] for entry in sorted(self._heap, key=lambda e: (-e[0], -e[1]))),
            steps_recorded=len(self._rows),
            steps_dropped=self._dropped,
            invalid_values=self._invalid,
        )

    # -- exports -------------------------------------------------------------------------------

    def export_json(self, path_or_file: _PathOrFile) -> None:
        """Write the summary and every recorded step row as one JSON document.

        The document is ``{"format": "agentguard.session_summary", "version": 1,
        "summary": SessionSummary.to_dict(), "steps": [row, ...]}``, rows keyed as
        :data:`CSV_COLUMNS`.

        Args:
            path_or_file: A path (written as UTF-8, replaced if it exists) or a text file.
        """
        with self._lock:
            summary = self._summary_locked()
            rows = [row.to_dict() for row in self._rows]
        document = {
            "format": _JSON_FORMAT,
            "version": _JSON_VERSION,
            "summary": summary.to_dict(),
            "steps": rows,
        }
        with _opened(path_or_file) as out:
            json.dump(document, out, allow_nan=False, indent=2)
            out.write("\n")

    def export_csv(self, path_or_file: _PathOrFile) -> None:
        """Write one CSV row per recorded step, with a header of :data:`CSV_COLUMNS`.

        ``ok`` is ``true`` or ``false``; a ``None`` (no run, no error kind, no cost) is an
        empty cell. Names with commas, quotes or newlines are quoted by :mod:`csv`.

        Args:
            path_or_file: A path (written as UTF-8, replaced if it exists) or a text file,
                which should be opened with ``newline=""`` as :mod:`csv` asks.
        """
        rows = self.steps()
        with _opened(path_or_file) as out:
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(CSV_COLUMNS)
            writer.writerows(_csv_cells(row) for row in rows)


def print_summary(
    recorder_or_summary: SessionRecorder | SessionSummary, file: IO[str] | None = None
) -> None:
    """Print the rendered summary to ``file`` (standard output by default).

    Raises:
        TypeError: The first argument is neither a recorder nor a summary.
    """
    if isinstance(recorder_or_summary, SessionRecorder):
        summary = recorder_or_summary.summary()
    elif isinstance(recorder_or_summary, SessionSummary):
        summary = recorder_or_summary
    else:
        raise TypeError(
            "print_summary() takes a SessionRecorder or a SessionSummary, got "
            f"{type(recorder_or_summary).__qualname__}"
        )
    print(summary.render(), file=sys.stdout if file is None else file)


# --- helpers ------------------------------------------------------------------------------


def _check_count(name: str, value: object) -> None:
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")


def _timing(table: dict[str, _Timing], name: str) -> _Timing:
    timing = table.get(name)
    if timing is None:
        timing = table[name] = _Timing()
    return timing


def _duration(value: object) -> tuple[float, int]:
    """A usable duration, and 1 if the given one was not."""
    if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
        return float(value), 0
    return 0.0, 1


def _dollars(value: object) -> tuple[Decimal | None, int]:
    """Dollars as an exact decimal of their shortest repr, and 1 if the value was unusable."""
    if value is None:
        return None, 0
    if isinstance(value, (int, float)) and math.isfinite(value):
        return Decimal(repr(float(value))), 0
    return None, 1


def _nearest_rank(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _csv_cells(row: StepRecord) -> list[object]:
    cells: list[object] = []
    for name in CSV_COLUMNS:
        value = getattr(row, name)
        if value is None:
            cells.append("")
        elif isinstance(value, bool):
            cells.append("true" if value else "false")
        elif isinstance(value, float):
            cells.append(repr(value))
        else:
            cells.append(value)
    return cells


@contextmanager
def _opened(target: _PathOrFile) -> Iterator[IO[str]]:
    """Open a path for writing, or pass a text file through without closing it."""
    if isinstance(target, (str, os.PathLike)):
        with open(target, "w", encoding="utf-8", newline="") as file:
            yield file
    elif hasattr(target, "write"):
        yield target
    else:
        raise TypeError(
            f"expected a path or a text file opened for writing, got {type(target).__qualname__}"
        )


# --- rendering ----------------------------------------------------------------------------


def _render(summary: SessionSummary, title: str) -> str:
    facts = _facts(summary)
    width = max(len(label) for label, _ in facts) + 2
    lines = [title, "=" * len(title)]
    lines += [f"{label + ':':<{width}}{value}" for label, value in facts]
    for section in (_tool_lines, _model_lines, _cost_lines, _error_lines, _slowest_lines):
        lines += section(summary)
    return "\n".join(lines)


def _facts(summary: SessionSummary) -> list[tuple[str, str]]:
    facts = [
        ("Duration", _span(summary.duration_s)),
        ("Runs", _runs(summary.runs)),
        ("Steps", _steps(summary)),
    ]
    times = summary.step_time
    if summary.success_rate is not None and times.avg_s is not None:
        quantiles = f"p50 {_secs(times.p50_s)}, p95 {_secs(times.p95_s)}"
        if summary.steps_dropped:
            quantiles += f" of the first {summary.steps_recorded:,}"
        facts += [
            ("Success rate", f"{summary.success_rate:.1%}"),
            ("Avg step time", f"{_secs(times.avg_s)} ({quantiles}; max {_secs(times.max_s)})"),
        ]
    facts.append(("Cost", _usd_total(summary.cost)))
    optional = [
        ("Retries", summary.retries, ""),
        ("Errors", sum(e.count for e in summary.errors), " classified"),
        ("Budget crossings", summary.budget_exceeded, ""),
        ("Loop detections", summary.loops_detected, ""),
        ("Rows not kept", summary.steps_dropped, " (past max_steps; aggregates are complete)"),
        ("Invalid values", summary.invalid_values, " (set aside)"),
    ]
    facts += [(label, f"{count:,}{note}") for label, count, note in optional if count]
    return facts


def _tool_lines(summary: SessionSummary) -> list[str]:
    if not summary.tools:
        return []
    header = ("tool", "calls", "ok", "avg", "max", "total")
    rows = [
        (
            _clean(t.tool),
            f"{t.calls:,}",
            f"{t.success_rate:.1%}",
            _secs(t.avg_s),
            _secs(t.max_s),
            _secs(t.total_s),
        )
        for t in summary.tools
    ]
    return ["", "Tool usage:", *_table(header, rows)]


def _model_lines(summary: SessionSummary) -> list[str]:
    if not summary.models:
        return []
    header = ("model", "calls", "ok", "avg", "max", "tokens", "retries", "cost")
    rows = [
        (
            _clean(m.model),
            f"{m.calls:,}",
            f"{m.success_rate:.1%}",
            _secs(m.avg_s),
            _secs(m.max_s),
            f"{m.tokens.total_tokens:,}",
            f"{m.retries:,}",
            _usd_total(m.cost),
        )
        for m in summary.models
    ]
    return ["", "LLM calls:", *_table(header, rows)]


def _cost_lines(summary: SessionSummary) -> list[str]:
    if not summary.models:
        return []
    tokens, cost = summary.tokens, summary.cost
    rows = [
        ("Input", f"{tokens.input_tokens:,}", _usd(cost.input_usd)),
        ("Output", f"{tokens.output_tokens:,}", _usd(cost.output_usd)),
        ("Cache reads", f"{tokens.cache_read_tokens:,}", _usd(cost.cache_read_usd)),
        ("Cache writes 5m", f"{tokens.cache_write_5m_tokens:,}", _usd(cost.cache_write_5m_usd)),
        ("Cache writes 1h", f"{tokens.cache_write_1h_tokens:,}", _usd(cost.cache_write_1h_usd)),
    ]
    if cost.other_usd:
        rows.append(("Other", "", _usd(cost.other_usd)))
    rows.append(("Total", f"{tokens.total_tokens:,}", _usd_total(cost)))
    lines = ["", "Cost breakdown:", *_table(("token type", "tokens", "cost"), rows)]
    if cost.unpriced_calls:
        lines.append(f"  {cost.unpriced_calls:,} unpriced call(s): their cost is unknown, not $0")
    return lines


def _error_lines(summary: SessionSummary) -> list[str]:
    if not summary.errors:
        return []
    rows = [(_clean(e.source), _clean(e.error_kind), f"{e.count:,}") for e in summary.errors]
    return ["", "Errors:", *_table(("source", "kind", "count"), rows, left=2)]


def _slowest_lines(summary: SessionSummary) -> list[str]:
    if not summary.slowest:
        return []
    lines = ["", "Slowest steps:"]
    for rank, slow in enumerate(summary.slowest, 1):
        run = "" if slow.run_id is None else f", run {_clean(slow.run_id)[:8]}"
        lines.append(
            f"  {rank}. Step {slow.step}: {slow.kind} {_clean(slow.name)} "
            f"({_secs(slow.duration_s)}{run})"
        )
    return lines


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> list[str]:
    """Two-space indented columns: the first ``left`` left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return ("  " + "  ".join(cells)).rstrip()

    return [line(header), *(line(row) for row in rows)]


def _span(seconds: float) -> str:
    if seconds < 60:
        return _secs(seconds)
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


def _secs(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if 0 < seconds < 0.01:
        return f"{seconds * 1000:.2f}ms"
    return f"{seconds:.2f}s"


def _usd(dollars: float) -> str:
    return f"${dollars:,.4f}"


def _usd_total(cost: CostBreakdown) -> str:
    if not cost.unpriced_calls:
        return _usd(cost.known_usd)
    if not cost.priced_calls:
        return "unknown"
    return f"unknown + {_usd(cost.known_usd)}"


def _runs(runs: RunCounts) -> str:
    text = f"{runs.total:,} ({runs.succeeded:,} succeeded, {runs.failed:,} failed"
    if runs.unfinished:
        text += f", {runs.unfinished:,} unfinished"
    return text + ")"


def _steps(summary: SessionSummary) -> str:
    if not summary.steps:
        return "0 (no steps recorded)"
    return (
        f"{summary.steps:,} ({summary.llm_calls:,} LLM calls, {summary.tool_calls:,} tool "
        f"calls, {summary.failed_steps:,} failed)"
    )


def _clean(text: str) -> str:
    """``text`` on one line: control characters shown as escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
