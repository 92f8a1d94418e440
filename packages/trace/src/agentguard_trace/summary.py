"""The session summary: what a session did, how long it took and what it cost.

:class:`SessionRecorder` is a subscriber: attach it, run the agent, then read, print or export
its :class:`SessionSummary` (a tree of frozen dataclasses)::

    recorder = SessionRecorder()
    with recorder:  # attaches to the default bus; closing keeps what was recorded
        run_my_agent()
    print_summary(recorder)
    recorder.export_csv("steps.csv")

A *step* is one LLM or tool call. The trap: rows are kept up to ``max_steps`` (100,000 by
default); past that only the aggregates grow, :attr:`SessionSummary.steps_dropped` counts the
rest and p50/p95 describe the kept rows. Memory, exact dollar sums, unpriced calls and bad
values: docs/architecture.md, "The tracer".
"""

from __future__ import annotations

import csv
import heapq
import json
import math
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Context, Decimal
from types import TracebackType
from typing import IO, Any, Final, TypeAlias

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
from agentguard_trace._summary_model import (
    CSV_COLUMNS,
    ContextSize,
    CostBreakdown,
    ErrorCount,
    ModelStats,
    RunCounts,
    SessionSummary,
    SlowStep,
    StepKind,
    StepRecord,
    StepTimes,
    TokenCounts,
    ToolStats,
)

__all__ = ["SessionRecorder", "print_summary"]

_DECIMAL: Final = Context(prec=60)
_ZERO: Final = Decimal(0)
_COMPONENTS: Final = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
_COST_PARTS: Final = (*_COMPONENTS, "web_search")
_JSON_FORMAT: Final = "agentguard.session_summary"
_JSON_VERSION: Final = 1

_PathOrFile: TypeAlias = "str | os.PathLike[str] | IO[str]"


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

    __slots__ = (
        "dollars",
        "incomplete",
        "left_out",
        "other",
        "priced",
        "retries",
        "saved",
        "searches",
        "tokens",
        "unpriced",
    )

    def __init__(self) -> None:
        self.tokens = [0, 0, 0, 0, 0]
        self.dollars = [_ZERO] * len(_COST_PARTS)
        self.other = _ZERO
        self.priced = 0
        self.unpriced = 0
        self.incomplete = 0
        self.left_out: set[str] = set()
        self.searches = 0
        self.retries = 0
        self.saved: Decimal | None = None

    def add(
        self, tokens: tuple[int, ...], costs: tuple[Decimal | None, ...], saved: Decimal | None
    ) -> None:
        for i, count in enumerate(tokens):
            self.tokens[i] += count
        total = costs[-1]
        if total is None:
            self.unpriced += 1
            return
        self.priced += 1
        if saved is not None:
            self.saved = saved if self.saved is None else _DECIMAL.add(self.saved, saved)
        known = _ZERO
        for i, cost in enumerate(costs[:-1]):
            if cost is not None:
                self.dollars[i] = _DECIMAL.add(self.dollars[i], cost)
                known = _DECIMAL.add(known, cost)
        if any(cost is None for cost in costs[:-1]):
            self.other = _DECIMAL.add(self.other, _DECIMAL.subtract(total, known))

    def note(self, event: LLMCallFinished) -> None:
        """What the call reported beyond tokens: searches, and what its cost leaves out."""
        self.searches += max(event.web_search_requests, 0)
        if event.partially_priced:
            self.incomplete += 1
            self.left_out.update(part for part in (event.unpriced or "").split(",") if part)

    def merge(self, other: _Usage) -> None:
        for i in range(len(_COMPONENTS)):
            self.tokens[i] += other.tokens[i]
        for i in range(len(_COST_PARTS)):
            self.dollars[i] = _DECIMAL.add(self.dollars[i], other.dollars[i])
        self.other = _DECIMAL.add(self.other, other.other)
        self.priced += other.priced
        self.unpriced += other.unpriced
        self.incomplete += other.incomplete
        self.left_out |= other.left_out
        self.searches += other.searches
        self.retries += other.retries
        if other.saved is not None:
            held = self.saved
            self.saved = other.saved if held is None else _DECIMAL.add(held, other.saved)

    def token_counts(self) -> TokenCounts:
        return TokenCounts(
            **{f"{c}_tokens": n for c, n in zip(_COMPONENTS, self.tokens, strict=True)}
        )

    def cost(self) -> CostBreakdown:
        parts = {f"{c}_usd": float(d) for c, d in zip(_COST_PARTS, self.dollars, strict=True)}
        known = _ZERO
        for d in [*self.dollars, self.other]:
            known = _DECIMAL.add(known, d)
        return CostBreakdown(
            **parts,
            other_usd=float(self.other),
            known_usd=float(known),
            priced_calls=self.priced,
            unpriced_calls=self.unpriced,
            incomplete_calls=self.incomplete,
            left_out=tuple(sorted(self.left_out)),
            web_search_requests=self.searches,
            cache_saved_usd=None if self.saved is None else float(self.saved),
        )


class _Context:
    """The context sizes of one agent's calls to one model."""

    __slots__ = ("calls", "current", "kept", "largest")

    def __init__(self) -> None:
        self.calls = 0
        self.current = 0
        self.largest = 0
        self.kept: list[int] = []

    def add(self, tokens: int, keep: bool) -> None:
        self.calls += 1
        self.current = tokens
        self.largest = max(self.largest, tokens)
        if keep:
            self.kept.append(tokens)


def _reported(event: LLMCallFinished) -> dict[str, Any]:
    """The fields of a step row that only LLM calls have, beyond tokens and cost."""
    return {
        "thinking_tokens": event.thinking_tokens,
        "web_search_requests": event.web_search_requests,
        "web_fetch_requests": event.web_fetch_requests,
        "service_tier": event.service_tier,
        "cost_complete": event.cost_complete,
        "unpriced": event.unpriced,
        "context_tokens": event.context_tokens,
    }


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
        self._context: dict[tuple[str | None, str], _Context] = {}
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
        saved: Decimal | None = None
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
                    event.web_search_cost_usd,
                    event.cost_usd,
                )
            ]
            costs = tuple(dollars for dollars, _ in checked)
            invalid += sum(bad for _, bad in checked)
            cost = None if costs[-1] is None else event.cost_usd
            saved, bad_saving = _dollars(event.cache_saved_usd)
            invalid += bad_saving
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
                usage.add(tokens, costs, saved)
                usage.retries += retries
                if isinstance(event, LLMCallFinished):
                    usage.note(event)
                    self._note_context(event)
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
                    cache_saved_usd=None if saved is None else float(saved),
                    retries=retries,
                    **(_reported(event) if isinstance(event, LLMCallFinished) else {}),
                )
            )

    def _note_context(self, event: LLMCallFinished) -> None:
        """Count the call's context size. Caller holds the lock, before the row is kept."""
        context = self._context.get((event.agent, event.model))
        if context is None:
            context = self._context[(event.agent, event.model)] = _Context()
        context.add(event.context_tokens, len(self._rows) < self._max_steps)

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
                p50_s=_linear_quantile(durations, 0.50),
                p95_s=_linear_quantile(durations, 0.95),
                max_s=self._max_s,
                total_s=self._total_s,
            ),
            tools=tuple(sorted(tools, key=lambda s: (-s.calls, s.tool))),
            models=tuple(sorted(models, key=lambda s: (-s.calls, s.model))),
            tokens=total.token_counts(),
            cost=total.cost(),
            retries=total.retries,
            context=tuple(
                ContextSize(
                    agent=agent,
                    model=model,
                    calls=c.calls,
                    current_tokens=c.current,
                    max_tokens=c.largest,
                    p95_tokens=_linear_quantile(sorted(c.kept), 0.95) or 0.0,
                )
                for (agent, model), c in sorted(
                    self._context.items(), key=lambda item: (item[0][0] or "", item[0][1])
                )
            ),
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


def _linear_quantile(ordered: list[float] | list[int], q: float) -> float | None:
    """The ``q`` quantile of sorted values by linear interpolation (numpy's default, type 7).

    Rank ``h = q * (n - 1)``, between the values at ``floor(h)`` and ``floor(h) + 1``: unlike
    the nearest rank, a small sample's p95 comes close to its largest value.
    """
    if not ordered:
        return None
    h = q * (len(ordered) - 1)
    low = math.floor(h)
    if low + 1 >= len(ordered):
        return float(ordered[-1])
    return ordered[low] + (h - low) * (ordered[low + 1] - ordered[low])


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
