"""The one mapping from events to metric series (DESIGN.md section 4), written as data.

- :data:`METRICS` lists every metric (:class:`Metric`: name, type, unit, labels, help,
  buckets) with the facts every consumer derives from it: :attr:`Metric.series_labels`,
  :attr:`Metric.set_by_events`, :attr:`Metric.sample_names`, :meth:`Metric.prometheus_family`.
- :data:`RULES` says, per event class, which metric each event moves, with which label values
  (read by :class:`Getter` objects), by how much and how (``inc``, ``dec``, ``observe``,
  ``set``). :func:`effects` (and :meth:`Rule.effect`, one rule) apply them; amounts that read
  ``None`` are left out. :mod:`agentguard.compiler` compiles them for the subscribers.
- ``docs/metrics.md`` is generated from this module by ``python docs/gen_metrics.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

from agentguard.events import (
    EVENT_TYPES,
    AlertStateChanged,
    BreakerRejected,
    BreakerStateChanged,
    BudgetExceeded,
    ErrorClassified,
    Event,
    LLMCallFinished,
    LoopDetected,
    PromptCacheRegressed,
    PromptCacheUsage,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)

if TYPE_CHECKING:
    from prometheus_client.core import Metric as Family

__all__ = [
    "AGENT",
    "ALERTS",
    "BREAKER_REJECTIONS",
    "BREAKER_STATE",
    "BREAKER_STATE_NUMBERS",
    "BREAKER_TRANSITIONS",
    "BUDGET_EXCEEDED",
    "CACHE_LOST",
    "CACHE_SAVED",
    "ERRORS",
    "EVENTS_DROPPED",
    "EVENTS_PUBLISHED",
    "INVALID_VALUES",
    "LLM_CALLS",
    "LLM_CONTEXT",
    "LLM_COST",
    "LLM_COST_INCOMPLETE",
    "LLM_DURATION",
    "LLM_RETRIES",
    "LLM_SERVER_TOOLS",
    "LLM_SERVICE",
    "LLM_THINKING",
    "LLM_TOKENS",
    "LLM_TTFT",
    "LLM_UNPRICED",
    "LOOP_DETECTIONS",
    "METRICS",
    "ONE",
    "RULES",
    "RUNS",
    "RUNS_IN_PROGRESS",
    "RUN_COST",
    "RUN_DURATION",
    "SELF_METRICS",
    "SERIES_DROPPED",
    "SUBSCRIBER_ERRORS",
    "TOOL_CALLS",
    "TOOL_DURATION",
    "Const",
    "Effect",
    "Field",
    "Getter",
    "Metric",
    "MetricType",
    "Negative",
    "Op",
    "Positive",
    "Rule",
    "StateNumber",
    "Status",
    "effects",
]

MetricType: TypeAlias = Literal["counter", "gauge", "histogram"]
"""The kinds of metric."""
Op: TypeAlias = Literal["inc", "dec", "observe", "set"]
"""What an event does to a metric: add to a counter or gauge, take from a gauge, observe a
value in a histogram, or set a gauge."""

BREAKER_STATE_NUMBERS: Final[Mapping[str, int]] = {"closed": 0, "half_open": 1, "open": 2}
"""The value of ``agentguard_breaker_state`` for each breaker state."""
AGENT: Final = "agent"
"""The label a store keeps every series by, whether or not the metric has it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    """One metric family."""

    name: str
    """The full name, in base units, counters ending in ``_total``."""
    type: MetricType
    """Counter, gauge or histogram."""
    unit: str
    """The base unit (``seconds``, ``usd``, ``tokens``), or ``""`` for a count of things."""
    labels: tuple[str, ...]
    """The label names, in order."""
    help: str
    """One line that says what the metric counts."""
    buckets: tuple[float, ...] = ()
    """The upper bounds of a histogram's buckets (``+Inf`` implied)."""

    @property
    def base_name(self) -> str:
        """The name without ``_total``, as prometheus-client wants a counter's name."""
        return self.name.removesuffix("_total") if self.type == "counter" else self.name

    @property
    def series_labels(self) -> tuple[str, ...]:
        """The label names a store keeps this metric's series by: its own, then :data:`AGENT`.

        A metric labelled by agent already (``agentguard_runs_total``, ...) keeps its labels.
        """
        return self.labels if AGENT in self.labels else (*self.labels, AGENT)

    @property
    def set_by_events(self) -> bool:
        """Whether some rule *sets* this gauge (``agentguard_breaker_state``).

        The latest value then wins across threads and processes; contributions do not add up.
        """
        return self.name in _SET_BY_EVENTS

    @property
    def sample_names(self) -> tuple[str, ...]:
        """The names of its samples in the Prometheus text format.

        A counter's ``name`` (``_total``), a gauge's ``name``, a histogram's ``_bucket``,
        ``_count`` and ``_sum``.
        """
        if self.type == "histogram":
            return tuple(f"{self.name}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
        return (self.name,)

    def prometheus_family(self) -> Family:
        """An empty prometheus-client metric family exposed with exactly this name.

        prometheus-client is imported here, not with this module: the core does not need it,
        and the packages that call this (agentguard-prometheus, agentguard-metrics) depend on
        it.
        """
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        kinds = {
            "counter": CounterMetricFamily,
            "gauge": GaugeMetricFamily,
            "histogram": HistogramMetricFamily,
        }
        family: Family = kinds[self.type](
            self.base_name, self.help, labels=self.labels, unit=self.unit
        )
        exposed = family.name + "_total" if self.type == "counter" else family.name
        assert exposed == self.name, f"{self.name} would be exposed as {exposed}"
        return family


_SECONDS_LLM = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
_SECONDS_TTFT = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_SECONDS_TOOL = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_SECONDS_RUN = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
_USD_RUN = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_TOKENS = (256.0, 1024.0, 4096.0, 16384.0, 32768.0, 65536.0, 131072.0, 200000.0, 500000.0, 1e6)


def _m(
    name: str,
    type_: MetricType,
    unit: str,
    labels: tuple[str, ...],
    help_: str,
    *buckets: float,
) -> Metric:
    return Metric(name=name, type=type_, unit=unit, labels=labels, help=help_, buckets=buckets)


LLM_CALLS = _m(
    "agentguard_llm_calls_total", "counter", "", ("model", "status"), "LLM calls, by outcome."
)
LLM_TOKENS = _m(
    "agentguard_llm_tokens_total",
    "counter",
    "tokens",
    ("model", "token_type"),
    "Tokens of LLM calls: input (uncached), output, cache_read, cache_write_5m, cache_write_1h.",
)
LLM_COST = _m(
    "agentguard_llm_cost_usd_total",
    "counter",
    "usd",
    ("model", "component"),
    "Cost of priced LLM calls in US dollars, by token type (input, output, cache_read, "
    "cache_write_5m, cache_write_1h) and web_search.",
)
LLM_UNPRICED = _m(
    "agentguard_llm_unpriced_calls_total",
    "counter",
    "",
    ("model",),
    "LLM calls whose model has no price (their cost is unknown, not zero).",
)
LLM_COST_INCOMPLETE = _m(
    "agentguard_llm_cost_incomplete_calls_total",
    "counter",
    "",
    ("model",),
    "Priced LLM calls whose cost leaves out something the API reported that has no price "
    "(a service tier or speed without a price variant); the event's unpriced names it.",
)
LLM_THINKING = _m(
    "agentguard_llm_thinking_tokens_total",
    "counter",
    "tokens",
    ("model",),
    "Output tokens spent on internal reasoning: a part of token_type=output, not added to it.",
)
LLM_SERVER_TOOLS = _m(
    "agentguard_llm_server_tool_requests_total",
    "counter",
    "",
    ("model", "tool"),
    "Server-side tool requests made inside LLM calls: web_search, web_fetch.",
)
LLM_SERVICE = _m(
    "agentguard_llm_calls_by_service_total",
    "counter",
    "",
    ("provider", "service_tier", "speed", "inference_geo"),
    "LLM calls by platform (anthropic, bedrock, vertex, foundry, ...), service tier (standard, "
    'priority, batch), speed (standard, fast) and inference region; "" where not reported.',
)
LLM_RETRIES = _m(
    "agentguard_llm_retries_total",
    "counter",
    "",
    ("model",),
    "Attempts the SDK retried inside LLM calls.",
)
LLM_CONTEXT = _m(
    "agentguard_llm_context_tokens",
    "histogram",
    "tokens",
    ("model",),
    "All input tokens of a call, cached or not: the context size.",
    *_TOKENS,
)
LLM_DURATION = _m(
    "agentguard_llm_call_duration_seconds",
    "histogram",
    "seconds",
    ("model",),
    "Duration of LLM calls, retries and stream reading included.",
    *_SECONDS_LLM,
)
LLM_TTFT = _m(
    "agentguard_llm_time_to_first_token_seconds",
    "histogram",
    "seconds",
    ("model",),
    "Time from the request to the first content of a streamed response.",
    *_SECONDS_TTFT,
)
RUNS = _m("agentguard_runs_total", "counter", "", ("agent", "status"), "Agent runs, by outcome.")
RUN_DURATION = _m(
    "agentguard_run_duration_seconds",
    "histogram",
    "seconds",
    ("agent",),
    "Duration of agent runs.",
    *_SECONDS_RUN,
)
RUN_COST = _m(
    "agentguard_run_cost_usd",
    "histogram",
    "usd",
    ("agent",),
    "Cost of priced agent runs in US dollars (runs with an unpriced call are left out).",
    *_USD_RUN,
)
RUNS_IN_PROGRESS = _m(
    "agentguard_runs_in_progress", "gauge", "", ("agent",), "Agent runs started and not ended."
)
TOOL_CALLS = _m(
    "agentguard_tool_calls_total", "counter", "", ("tool", "status"), "Tool calls, by outcome."
)
TOOL_DURATION = _m(
    "agentguard_tool_call_duration_seconds",
    "histogram",
    "seconds",
    ("tool",),
    "Duration of tool calls.",
    *_SECONDS_TOOL,
)
CACHE_SAVED = _m(
    "agentguard_prompt_cache_saved_usd_total",
    "counter",
    "usd",
    ("model",),
    "Dollars prompt caching saved against the same calls uncached, over the calls it saved "
    "on; the net saving is this minus agentguard_prompt_cache_lost_usd_total.",
)
CACHE_LOST = _m(
    "agentguard_prompt_cache_lost_usd_total",
    "counter",
    "usd",
    ("model",),
    "Dollars calls whose cache writes cost more than their reads saved paid beyond the same "
    "calls uncached (a write-only call, mostly).",
)
ERRORS = _m(
    "agentguard_errors_total",
    "counter",
    "",
    ("source", "kind"),
    "Errors by source (llm, tool, other) and classified kind.",
)
BREAKER_STATE = _m(
    "agentguard_breaker_state",
    "gauge",
    "",
    ("breaker",),
    "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
)
BREAKER_TRANSITIONS = _m(
    "agentguard_breaker_transitions_total",
    "counter",
    "",
    ("breaker", "to_state"),
    "Circuit breaker state changes, by the state entered.",
)
BREAKER_REJECTIONS = _m(
    "agentguard_breaker_rejections_total",
    "counter",
    "",
    ("breaker",),
    "Calls an open circuit breaker failed fast.",
)
LOOP_DETECTIONS = _m(
    "agentguard_loop_detections_total",
    "counter",
    "",
    ("tool", "pattern", "action"),
    "Tool-call loops detected, by pattern and what the guard did.",
)
BUDGET_EXCEEDED = _m(
    "agentguard_budget_exceeded_total", "counter", "", ("scope",), "Budgets crossed, by scope."
)
ALERTS = _m(
    "agentguard_alerts_total",
    "counter",
    "",
    ("rule", "state"),
    "Alert state changes, by rule and state entered.",
)
EVENTS_PUBLISHED = _m(
    "agentguard_events_published_total",
    "counter",
    "",
    ("kind",),
    "Events a subscriber received, by kind.",
)
SUBSCRIBER_ERRORS = _m(
    "agentguard_subscriber_errors_total",
    "counter",
    "",
    ("subscriber",),
    "Exceptions raised by bus subscribers (the bus isolated them).",
)
EVENTS_DROPPED = _m(
    "agentguard_events_dropped_total",
    "counter",
    "",
    ("reason",),
    "Events that could not be handled, by reason: series_cap, loop_closed, async_backlog; "
    "batch_quarantined counts batches a store refused for their content.",
)
SERIES_DROPPED = _m(
    "agentguard_series_dropped_total",
    "counter",
    "",
    ("metric",),
    "Label values folded into other because a cardinality cap was reached.",
)
INVALID_VALUES = _m(
    "agentguard_invalid_values_total",
    "counter",
    "",
    ("field",),
    "Values refused because they were out of their field's range (agentguard.limits).",
)

SELF_METRICS: Final[tuple[Metric, ...]] = (
    EVENTS_PUBLISHED,
    SUBSCRIBER_ERRORS,
    EVENTS_DROPPED,
    SERIES_DROPPED,
    INVALID_VALUES,
)
"""The metrics about agentguard itself, kept by the subscribers."""

METRICS: Final[tuple[Metric, ...]] = (
    LLM_CALLS,
    LLM_TOKENS,
    LLM_COST,
    LLM_UNPRICED,
    LLM_COST_INCOMPLETE,
    LLM_THINKING,
    LLM_SERVER_TOOLS,
    LLM_SERVICE,
    LLM_RETRIES,
    LLM_CONTEXT,
    LLM_DURATION,
    LLM_TTFT,
    RUNS,
    RUN_DURATION,
    RUN_COST,
    RUNS_IN_PROGRESS,
    TOOL_CALLS,
    TOOL_DURATION,
    CACHE_SAVED,
    CACHE_LOST,
    ERRORS,
    BREAKER_STATE,
    BREAKER_TRANSITIONS,
    BREAKER_REJECTIONS,
    LOOP_DETECTIONS,
    BUDGET_EXCEEDED,
    ALERTS,
    *SELF_METRICS,
)
"""Every metric, in the order of DESIGN.md section 4."""


# --- reading values from events -----------------------------------------------------------


class Getter:
    """Reads one label value or amount from an event."""

    __slots__ = ()

    def get(self, event: Event) -> object:
        """The value for ``event``; ``None`` leaves the effect out."""
        raise NotImplementedError

    def describe(self) -> str:
        """How the value is read, for the docs."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Field(Getter):
    """An event field (or property) by name."""

    name: str
    """The field's name."""

    def get(self, event: Event) -> object:
        """The field's value."""
        return getattr(event, self.name)

    def describe(self) -> str:
        """``the field name``."""
        return f"`{self.name}`"


@dataclass(frozen=True, slots=True)
class Const(Getter):
    """A fixed value."""

    value: str | float
    """The value."""

    def get(self, event: Event) -> object:
        """The value."""
        return self.value

    def describe(self) -> str:
        """The value, quoted when a string."""
        return f'"{self.value}"' if isinstance(self.value, str) else f"{self.value:g}"


@dataclass(frozen=True, slots=True)
class Status(Getter):
    """``"ok"`` or ``"error"`` from the event's ``ok`` field."""

    def get(self, event: Event) -> object:
        """The status."""
        return "ok" if getattr(event, "ok") else "error"  # noqa: B009 (every event with status has it)

    def describe(self) -> str:
        """How the status is read."""
        return '"ok" or "error" from `ok`'


@dataclass(frozen=True, slots=True)
class StateNumber(Getter):
    """The number of a breaker state (:data:`BREAKER_STATE_NUMBERS`) from a field."""

    name: str
    """The field holding the state."""

    def get(self, event: Event) -> object:
        """The number."""
        return BREAKER_STATE_NUMBERS[getattr(event, self.name)]

    def describe(self) -> str:
        """How the number is read."""
        return f"`{self.name}` as 0 closed, 1 half-open, 2 open"


@dataclass(frozen=True, slots=True)
class Positive(Getter):
    """A numeric field when above zero, else nothing (the effect is left out)."""

    name: str
    """The field's name."""

    def get(self, event: Event) -> object:
        """The value, or ``None`` when it is not above zero."""
        value = getattr(event, self.name)
        return value if value is not None and value > 0 else None

    def describe(self) -> str:
        """How the value is read."""
        return f"`{self.name}` when above 0"


@dataclass(frozen=True, slots=True)
class Negative(Getter):
    """Minus a numeric field when below zero, else nothing (a counter of losses adds it)."""

    name: str
    """The field's name."""

    def get(self, event: Event) -> object:
        """``-value``, or ``None`` when the value is not below zero."""
        value = getattr(event, self.name)
        return -value if value is not None and value < 0 else None

    def describe(self) -> str:
        """How the value is read."""
        return f"minus `{self.name}` when below 0"


ONE: Final = Const(1.0)
"""The amount of a counter that counts events."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """What events of one class do to one metric."""

    metric: Metric
    """The metric moved."""
    op: Op
    """How it is moved."""
    labels: tuple[Getter, ...]
    """One getter per label of the metric, in order."""
    value: Getter = ONE
    """The amount."""
    when: tuple[Getter, object] | None = None
    """``(getter, expected)``: apply only when the getter reads ``expected``; ``None``: always."""

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.metric.labels):
            wanted = len(self.metric.labels)
            raise ValueError(f"a rule for {self.metric.name} needs {wanted} label getters")

    def effect(self, event: Event) -> Effect | None:
        """What this rule does to ``event``; ``None`` when ``when`` fails or the amount is None.

        Label values that read as ``None`` become ``""``. This is the plain interpreter of the
        rule; :mod:`agentguard.compiler` generates code that does the same.
        """
        if self.when is not None and self.when[0].get(event) != self.when[1]:
            return None
        amount = self.value.get(event)
        if amount is None:
            return None
        labels = tuple("" if (v := g.get(event)) is None else str(v) for g in self.labels)
        return Effect(self.metric, self.op, labels, float(amount))  # type: ignore[arg-type]  # amounts are numbers by the catalog


@dataclass(frozen=True, slots=True)
class Effect:
    """One rule applied to one event."""

    metric: Metric
    """The metric moved."""
    op: Op
    """How it is moved."""
    labels: tuple[str, ...]
    """The label values, in the metric's label order."""
    value: float
    """The amount."""


def _r(
    metric: Metric,
    op: Op,
    *labels: Getter,
    value: Getter = ONE,
    when: tuple[Getter, object] | None = None,
) -> Rule:
    return Rule(metric=metric, op=op, labels=labels, value=value, when=when)


_MODEL = Field("model")
_TOKEN_TYPES = (
    ("input", "input_tokens", "input_cost_usd"),
    ("output", "output_tokens", "output_cost_usd"),
    ("cache_read", "cache_read_tokens", "cache_read_cost_usd"),
    ("cache_write_5m", "cache_write_5m_tokens", "cache_write_5m_cost_usd"),
    ("cache_write_1h", "cache_write_1h_tokens", "cache_write_1h_cost_usd"),
)

RULES: Final[Mapping[type[Event], tuple[Rule, ...]]] = {
    LLMCallFinished: (
        _r(LLM_CALLS, "inc", _MODEL, Status()),
        *(_r(LLM_TOKENS, "inc", _MODEL, Const(t), value=Field(f)) for t, f, _ in _TOKEN_TYPES),
        *(_r(LLM_COST, "inc", _MODEL, Const(t), value=Field(c)) for t, _, c in _TOKEN_TYPES),
        _r(LLM_COST, "inc", _MODEL, Const("web_search"), value=Positive("web_search_cost_usd")),
        _r(LLM_UNPRICED, "inc", _MODEL, when=(Field("cost_usd"), None)),
        _r(LLM_COST_INCOMPLETE, "inc", _MODEL, when=(Field("partially_priced"), True)),
        _r(LLM_THINKING, "inc", _MODEL, value=Positive("thinking_tokens")),
        _r(
            LLM_SERVER_TOOLS,
            "inc",
            _MODEL,
            Const("web_search"),
            value=Positive("web_search_requests"),
        ),
        _r(
            LLM_SERVER_TOOLS,
            "inc",
            _MODEL,
            Const("web_fetch"),
            value=Positive("web_fetch_requests"),
        ),
        _r(
            LLM_SERVICE,
            "inc",
            Field("provider"),
            Field("service_tier"),
            Field("speed"),
            Field("inference_geo"),
        ),
        _r(LLM_RETRIES, "inc", _MODEL, value=Field("retries")),
        _r(LLM_CONTEXT, "observe", _MODEL, value=Field("context_tokens")),
        # A Message Batches result has no latency of its own: it would drag the histogram to 0.
        _r(
            LLM_DURATION,
            "observe",
            _MODEL,
            value=Field("duration_s"),
            when=(Field("batch_id"), None),
        ),
        _r(LLM_TTFT, "observe", _MODEL, value=Field("time_to_first_token_s")),
        _r(ERRORS, "inc", Const("llm"), Field("error_kind"), when=(Field("ok"), False)),
    ),
    RunStarted: (_r(RUNS_IN_PROGRESS, "inc", Field("agent")),),
    RunFinished: (
        _r(RUNS_IN_PROGRESS, "dec", Field("agent")),
        _r(RUNS, "inc", Field("agent"), Status()),
        _r(RUN_DURATION, "observe", Field("agent"), value=Field("duration_s")),
        _r(RUN_COST, "observe", Field("agent"), value=Field("cost_usd")),
    ),
    ToolCallFinished: (
        _r(TOOL_CALLS, "inc", Field("tool"), Status()),
        _r(TOOL_DURATION, "observe", Field("tool"), value=Field("duration_s")),
        _r(ERRORS, "inc", Const("tool"), Field("error_kind"), when=(Field("ok"), False)),
    ),
    # The net saving (saved minus lost) can go down, which a counter cannot: its two signs
    # are two counters (docs/architecture.md, "One definition for each figure").
    PromptCacheUsage: (
        _r(CACHE_SAVED, "inc", _MODEL, value=Positive("saved_usd")),
        _r(CACHE_LOST, "inc", _MODEL, value=Negative("saved_usd")),
    ),
    PromptCacheRegressed: (),
    ErrorClassified: (
        _r(ERRORS, "inc", Field("source"), Field("error_kind"), when=(Field("source"), "other")),
    ),
    BreakerStateChanged: (
        _r(BREAKER_STATE, "set", Field("breaker"), value=StateNumber("new_state")),
        _r(BREAKER_TRANSITIONS, "inc", Field("breaker"), Field("new_state")),
    ),
    BreakerRejected: (_r(BREAKER_REJECTIONS, "inc", Field("breaker")),),
    LoopDetected: (_r(LOOP_DETECTIONS, "inc", Field("tool"), Field("pattern"), Field("action")),),
    BudgetExceeded: (_r(BUDGET_EXCEEDED, "inc", Field("scope")),),
    AlertStateChanged: (_r(ALERTS, "inc", Field("rule"), Field("state")),),
}
"""What each event class does to the metrics, besides ``agentguard_events_published_total``."""


def effects(event: Event) -> tuple[Effect, ...]:
    """The effects of ``event`` on the metrics, by :data:`RULES` (amounts of ``None`` left out).

    Label values that read as ``None`` (an event outside any run has no agent) become ``""``.
    Amounts are not checked here: NaN, infinities and negative counts are the consumer's to
    refuse and count (``agentguard_invalid_values_total``).
    """
    found: list[Effect] = [Effect(EVENTS_PUBLISHED, "inc", (event.kind,), 1.0)]
    for rule in RULES[type(event)]:
        effect = rule.effect(event)
        if effect is not None:
            found.append(effect)
    return tuple(found)


_SET_BY_EVENTS: Final = frozenset(
    rule.metric.name for rules in RULES.values() for rule in rules if rule.op == "set"
)

assert set(RULES) == set(EVENT_TYPES), "every event class needs its rules, even none"
