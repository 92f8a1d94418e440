"""The session summary's data: frozen dataclasses, no behaviour beyond derived figures."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal, TypeAlias

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
    "thinking_tokens",
    "web_search_requests",
    "web_fetch_requests",
    "service_tier",
    "cost_complete",
    "unpriced",
    "context_tokens",
    "cache_saved_usd",
)
"""The columns of :meth:`SessionRecorder.export_csv`, in order (also the keys of a JSON row)."""


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
    thinking_tokens: int = 0
    """Output tokens spent on reasoning, a part of ``output_tokens`` (LLM calls only)."""
    web_search_requests: int = 0
    """Server-side web searches the call made (LLM calls only)."""
    web_fetch_requests: int = 0
    """Server-side web fetches the call made (LLM calls only)."""
    service_tier: str | None = None
    """``standard``, ``priority`` or ``batch``, when the API reported it (LLM calls only)."""
    cost_complete: bool = True
    """``False`` when ``cost_usd`` leaves out something reported that has no price."""
    unpriced: str | None = None
    """What the cost leaves out (``service_tier=priority``, ``model``), comma-separated."""
    context_tokens: int = 0
    """Every input token of the call, cached or not: the context size (LLM calls only)."""
    cache_saved_usd: float | None = None
    """What prompt caching saved on the call (negative for a write-only call); ``None`` for
    tools and unpriced calls."""

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
    web_search_usd: float = 0.0
    """Cost of server-side web searches."""
    other_usd: float = 0.0
    """The part of priced calls' ``cost_usd`` that their component fields did not cover
    (0 when producers fill every component, as ``agentguard_trace`` does)."""
    known_usd: float = 0.0
    """The sum of the components above: the cost of every priced call."""
    priced_calls: int = 0
    """Calls with a known cost."""
    unpriced_calls: int = 0
    """Calls whose model had no price; their cost is unknown, not zero."""
    incomplete_calls: int = 0
    """Priced calls whose cost leaves out something the API reported that has no price."""
    left_out: tuple[str, ...] = ()
    """What those calls' costs leave out (``service_tier=priority``, ...), sorted."""
    web_search_requests: int = 0
    """Server-side web searches made."""
    cache_saved_usd: float | None = None
    """What prompt caching saved, net: each call's ``LLMCallFinished.cache_saved_usd`` added
    up, a write-only call's negative saving kept; ``None`` when no call's saving was known."""

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
    """Median over the recorded step rows (linear interpolation, numpy's default)."""
    p95_s: float | None = None
    """95th percentile over the recorded step rows (linear interpolation, numpy's default)."""
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
class ContextSize:
    """The context size of one agent's calls to one model, in tokens (every input token)."""

    agent: str | None
    """The agent of the calls' run; ``None`` for calls outside any run."""
    model: str
    """The model."""
    calls: int
    """LLM calls counted."""
    current_tokens: int
    """The context of the latest call."""
    max_tokens: int
    """The largest context."""
    p95_tokens: float
    """95th percentile over the recorded step rows (linear interpolation)."""


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
    context: tuple[ContextSize, ...] = ()
    """Context size per agent and model, by agent then model (no agent first)."""
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
        from agentguard_trace._summary_render import render

        return render(self, title)
