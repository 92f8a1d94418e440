"""The event catalog: every measurement agentguard makes is one of these.

Events are frozen, slotted, keyword-only dataclasses. Each has a dotted ``kind``, units in
its field names (``_s`` seconds, ``_usd`` US dollars, ``_tokens``), and the common fields of
:class:`BaseEvent`, which are filled from the clock and the run context
(:mod:`agentguard.context`) when the event is built. :data:`Event` is the closed union of
all of them; handle it with ``match`` and ``typing.assert_never`` so that a new kind is a type
error until it is handled.

Fields may be added in later versions; none is ever renamed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Final, Literal, TypeAlias

from agentguard._fastinit import install_fast_init
from agentguard.context import _agent, _run_id, _session_id

__all__ = [
    "EVENTS_BY_KIND",
    "EVENT_TYPES",
    "AlertState",
    "AlertStateChanged",
    "BaseEvent",
    "BreakerRejected",
    "BreakerState",
    "BreakerStateChanged",
    "BudgetExceeded",
    "BudgetScope",
    "ErrorClassified",
    "ErrorSource",
    "Event",
    "LLMCallFinished",
    "LoopAction",
    "LoopDetected",
    "LoopPattern",
    "PromptCacheRegressed",
    "PromptCacheUsage",
    "RunFinished",
    "RunStarted",
    "ToolCallFinished",
]

ErrorSource: TypeAlias = Literal["llm", "tool", "other"]
"""Where a classified error came from."""
BreakerState: TypeAlias = Literal["closed", "half_open", "open"]
"""The states of a circuit breaker."""
LoopPattern: TypeAlias = Literal["repeat", "cycle", "polling", "error_repeat"]
"""The shapes of tool-call loop the loop guard recognises."""
LoopAction: TypeAlias = Literal["warn", "stop"]
"""What the loop guard did about a loop."""
BudgetScope: TypeAlias = Literal["run", "session", "day"]
"""What a budget limits."""
AlertState: TypeAlias = Literal["firing", "resolved"]
"""The states of an alert."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseEvent:
    """The fields every event carries. Not published by itself."""

    kind: ClassVar[str]
    """Dotted lowercase name of the event type, the discriminator in JSON."""

    at_unix_s: float = field(default_factory=time.time)
    """When the event happened, in seconds since the Unix epoch."""
    run_id: str | None = field(default_factory=_run_id)
    """The run the event belongs to; ``None`` outside any run."""
    agent: str | None = field(default_factory=_agent)
    """The agent whose run the event belongs to; ``None`` outside any run."""
    session_id: str | None = field(default_factory=_session_id)
    """The session of the run; ``None`` outside any run."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(BaseEvent):
    """An agent run began."""

    kind: ClassVar[str] = "run.started"

    parent_run_id: str | None = None
    """The run this one was started inside, or ``None`` for a top-level run."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(BaseEvent):
    """An agent run ended, successfully or not."""

    kind: ClassVar[str] = "run.finished"

    duration_s: float
    """Wall-clock duration of the run in seconds."""
    ok: bool
    """Whether the run returned normally."""
    error_kind: str | None = None
    """The classified kind of the error that ended the run (an ``ErrorKind`` value)."""
    cost_usd: float | None = None
    """Cost of the LLM calls made in the run in US dollars; ``None`` if any was unpriced."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LLMCallFinished(BaseEvent):
    """One call to an LLM provider ended: returned, failed, or was abandoned.

    Token counts follow the Anthropic usage object: ``input_tokens`` counts only the input
    that was neither read from nor written to the prompt cache; the context size of the call
    is :attr:`context_tokens`.
    """

    kind: ClassVar[str] = "llm.call"

    provider: str = "anthropic"
    """The platform that served the call: ``anthropic`` (the first-party API), ``bedrock``,
    ``vertex``, ``foundry``, ``aws`` or ``google_cloud``."""
    model: str
    """The model that answered, as the API named it in its answer, normalized to Anthropic's
    name on Bedrock and Vertex (``claude-sonnet-4-5-20250929``); the requested model when there
    was no answer (a connection error, a 5xx)."""
    request_model: str | None = None
    """The model the request asked for, as it was written (``claude-sonnet-4-5``, a Bedrock
    inference profile, ...); ``None`` when the request named none."""
    input_tokens: int = 0
    """Input tokens neither read from nor written to the prompt cache."""
    output_tokens: int = 0
    """Output tokens generated."""
    cache_read_tokens: int = 0
    """Input tokens read from the prompt cache."""
    cache_write_5m_tokens: int = 0
    """Input tokens written to the prompt cache with the 5-minute lifetime."""
    cache_write_1h_tokens: int = 0
    """Input tokens written to the prompt cache with the 1-hour lifetime."""
    thinking_tokens: int = 0
    """Output tokens spent on internal reasoning (``output_tokens_details.thinking_tokens``).
    Already counted in ``output_tokens``: a part of it, never added to it."""
    web_search_requests: int = 0
    """Server-side web searches the call made (``usage.server_tool_use``), billed per search."""
    web_fetch_requests: int = 0
    """Server-side web fetches the call made (``usage.server_tool_use``); billed as tokens only."""
    speed: str | None = None
    """The inference speed the API reported (``standard`` or ``fast``), if it did."""
    service_tier: str | None = None
    """The service tier the call ran on (``standard``, ``priority`` or ``batch``), if known.
    Message Batches results are ``batch``."""
    inference_geo: str | None = None
    """The geographic region where inference ran, as the API reported it."""
    batch_id: str | None = None
    """The Message Batch the call belonged to (``msgbatch_...``); ``None`` for direct calls."""
    custom_id: str | None = None
    """The ``custom_id`` of the request within its Message Batch."""
    cost_usd: float | None = None
    """Total cost of the call in US dollars; ``None`` when the model is unpriced."""
    input_cost_usd: float | None = None
    """Cost of the uncached input tokens in US dollars; ``None`` when unpriced."""
    output_cost_usd: float | None = None
    """Cost of the output tokens in US dollars; ``None`` when unpriced."""
    cache_read_cost_usd: float | None = None
    """Cost of the cache-read tokens in US dollars; ``None`` when unpriced."""
    cache_write_5m_cost_usd: float | None = None
    """Cost of the 5-minute cache writes in US dollars; ``None`` when unpriced."""
    cache_write_1h_cost_usd: float | None = None
    """Cost of the 1-hour cache writes in US dollars; ``None`` when unpriced."""
    web_search_cost_usd: float | None = None
    """Cost of the server-side web searches in US dollars; ``None`` when unpriced."""
    cost_complete: bool = True
    """Whether ``cost_usd`` prices everything the API reported. ``False`` when a reported
    dimension has no price (a service tier or speed genai-prices has no variant for, web
    searches without a price): ``cost_usd`` then holds only what could be priced, and
    :attr:`unpriced` names the rest. An unpriced model is ``cost_usd=None``, also incomplete."""
    unpriced: str | None = None
    """What the cost leaves out, comma-separated (``service_tier=priority``,
    ``web_search_requests``, ``model``); ``None`` when the cost is complete."""
    cost_without_cache_usd: float | None = None
    """What the same call would have cost with every input token priced as uncached input
    (what prompt caching saved is this minus ``cost_usd``); ``None`` when unpriced."""
    duration_s: float
    """Wall-clock duration of the whole call in seconds, retries and stream reading included."""
    time_to_first_token_s: float | None = None
    """Seconds from the request to the first content of a stream; ``None`` when not streamed."""
    streamed: bool = False
    """Whether the response was streamed."""
    ok: bool = True
    """Whether the call returned (or the stream ran to its end) without an error."""
    error_kind: str | None = None
    """The classified kind of the error (an ``ErrorKind`` value); ``None`` when ``ok``."""
    stop_reason: str | None = None
    """Why the model stopped (``end_turn``, ``tool_use``, ``max_tokens``, ...), if known."""
    request_id: str | None = None
    """The provider's request id of the last attempt, if known."""
    retries: int = 0
    """Attempts the SDK retried inside this call (0 when the first attempt answered)."""

    @property
    def partially_priced(self) -> bool:
        """Whether the call has a cost that leaves out a reported dimension (see ``unpriced``)."""
        return self.cost_usd is not None and not self.cost_complete

    @property
    def cache_saved_usd(self) -> float | None:
        """What prompt caching saved on this call: ``cost_without_cache_usd - cost_usd``.

        The one definition every view adds up. Negative for a call whose cache writes cost
        more than its reads saved (a write-only call): the honest total keeps it. ``None``
        when either cost is unknown (an unpriced model).
        """
        cost, without = self.cost_usd, self.cost_without_cache_usd
        if cost is None or without is None:
            return None
        return float(without) - float(cost)

    @property
    def context_tokens(self) -> int:
        """All input tokens of the call, cached or not: the size of the context."""
        return (
            self.input_tokens
            + self.cache_read_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallFinished(BaseEvent):
    """One tool call ended."""

    kind: ClassVar[str] = "tool.call"

    tool: str
    """Name of the tool."""
    duration_s: float
    """Wall-clock duration of the call in seconds."""
    ok: bool = True
    """Whether the tool returned normally."""
    error_kind: str | None = None
    """The classified kind of the error (an ``ErrorKind`` value); ``None`` when ``ok``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptCacheUsage(BaseEvent):
    """How much of one LLM call's input the prompt cache served."""

    kind: ClassVar[str] = "cache.usage"

    model: str
    """The model of the call."""
    hit_ratio: float
    """cache_read / (uncached + cache_read + cache writes), between 0 and 1."""
    read_tokens: int
    """Input tokens read from the cache."""
    write_tokens: int
    """Input tokens written to the cache (5-minute and 1-hour together)."""
    uncached_tokens: int
    """Input tokens neither read from nor written to the cache."""
    saved_usd: float | None
    """Dollars saved against the same call without caching (negative when writes cost more
    than reads saved); ``None`` when the model is unpriced."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptCacheRegressed(BaseEvent):
    """The prompt-cache hit ratio of a model fell well below its baseline."""

    kind: ClassVar[str] = "cache.regressed"

    model: str
    """The model whose hit ratio fell."""
    baseline_ratio: float
    """The hit ratio the model had before."""
    current_ratio: float
    """The hit ratio over the recent window."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorClassified(BaseEvent):
    """An exception was classified."""

    kind: ClassVar[str] = "error.classified"

    source: ErrorSource
    """Where the error came from: an LLM call, a tool, or other code."""
    error_kind: str
    """The classified kind (an ``ErrorKind`` value such as ``rate_limited``).

    DESIGN.md calls this field ``kind``; that name is every event's discriminator, so here
    it is ``error_kind``, as in the other events that carry one."""
    retryable: bool
    """Whether retrying the same request may succeed."""
    exception_type: str
    """Qualified name of the exception class."""
    status_code: int | None = None
    """HTTP status of the response, if the error came with one."""
    retry_after_s: float | None = None
    """Seconds the server asked to wait before retrying, if it said."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerStateChanged(BaseEvent):
    """A circuit breaker moved from one state to another."""

    kind: ClassVar[str] = "breaker.state"

    breaker: str
    """Name of the breaker."""
    old_state: BreakerState
    """The state it left."""
    new_state: BreakerState
    """The state it entered."""
    failure_count: int
    """Consecutive failures counted at the time of the change."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerRejected(BaseEvent):
    """An open circuit breaker failed a call fast, without calling through."""

    kind: ClassVar[str] = "breaker.rejected"

    breaker: str
    """Name of the breaker."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopDetected(BaseEvent):
    """The loop guard recognised a tool-call loop."""

    kind: ClassVar[str] = "loop.detected"

    tool: str
    """The tool being called in the loop (the first of a cycle)."""
    pattern: LoopPattern
    """The shape of the loop."""
    repeats: int
    """How many times the pattern repeated."""
    action: LoopAction
    """Whether the guard only warned or stopped the run."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetExceeded(BaseEvent):
    """Spending crossed a budget."""

    kind: ClassVar[str] = "budget.exceeded"

    scope: BudgetScope
    """What the budget limits."""
    limit_usd: float
    """The budget in US dollars."""
    spent_usd: float
    """Spent so far in US dollars, at the time of crossing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertStateChanged(BaseEvent):
    """An alert rule started or stopped firing."""

    kind: ClassVar[str] = "alert.state"

    rule: str
    """Name of the alert rule."""
    state: AlertState
    """The state the alert entered."""
    value: float | None
    """The value of the rule's expression at the change, if it had one."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """The alert's labels (rule labels and the labels of the series that fired)."""


Event: TypeAlias = (
    RunStarted
    | RunFinished
    | LLMCallFinished
    | ToolCallFinished
    | PromptCacheUsage
    | PromptCacheRegressed
    | ErrorClassified
    | BreakerStateChanged
    | BreakerRejected
    | LoopDetected
    | BudgetExceeded
    | AlertStateChanged
)
"""The closed union of every event type."""

EVENT_TYPES: Final[tuple[type[Event], ...]] = (
    RunStarted,
    RunFinished,
    LLMCallFinished,
    ToolCallFinished,
    PromptCacheUsage,
    PromptCacheRegressed,
    ErrorClassified,
    BreakerStateChanged,
    BreakerRejected,
    LoopDetected,
    BudgetExceeded,
    AlertStateChanged,
)
"""Every event type, in catalog order."""

EVENTS_BY_KIND: Final[Mapping[str, type[Event]]] = {cls.kind: cls for cls in EVENT_TYPES}
"""Every event type by its ``kind``."""

for _cls in EVENT_TYPES:
    install_fast_init(_cls)
