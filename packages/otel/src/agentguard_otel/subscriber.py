"""agentguard events as OpenTelemetry GenAI spans and metrics: :class:`OTelSubscriber`.

Runs become ``invoke_agent`` spans, attached to the context of the code that started them so
that every span started inside (the anthropic SDK's call spans, the user's) is their child;
LLM calls become ``chat {model}`` CLIENT spans unless the anthropic SDK already made a call
span for that call (``llm_spans="auto"``, see ``_sdk_spans``); tool calls ``execute_tool``
spans; guard events span events on their run; every LLM call feeds the ``gen_ai.client.*``
histograms. No I/O here (the providers' processors export); never raises into the publisher:
what cannot become telemetry is counted in :meth:`OTelSubscriber.counts` and logged once per
episode on ``agentguard.otel``. The mapping is in the package README.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Literal, NoReturn

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider

from agentguard.bus import Bus, Subscription, default_bus
from agentguard.episodes import FailureEpisodes
from agentguard.events import (
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
from agentguard_otel._attributes import (
    DURATION_BOUNDARIES_S,
    TOKEN_BOUNDARIES,
    Attributes,
    chat_attributes,
    interval_ns,
    provider_name,
    request_model,
    run_attributes,
    span_event_attributes,
    to_ns,
    tool_attributes,
)
from agentguard_otel._runs import OpenRun, RunTable, detach
from agentguard_otel._sdk_spans import SDKCallSpans, call_spans_of

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram, Meter, MeterProvider

__all__ = ["OTelSubscriber"]

_logger = logging.getLogger("agentguard.otel")
_SCOPE: Final = "agentguard_otel"
try:
    _VERSION = importlib.metadata.version("agentguard-otel")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    _VERSION = ""
_METRIC_ATTRIBUTE_SETS: Final = 1024
"""Distinct (provider, model, error) attribute sets kept built; more are built per call."""

_ADVISES: dict[type, bool] = {}
"""Whether a meter class takes ``explicit_bucket_boundaries_advisory`` (API 1.23 and newer)."""

_MetricAttributes = tuple[dict[str, str], dict[str, str], dict[str, str]]


class OTelSubscriber:
    """Turns the events of a bus into OpenTelemetry spans and metrics (GenAI conventions).

    Args:
        tracer_provider: Where the spans go; by default the globally registered one.
        meter_provider: Where the metrics go; by default the globally registered one.
        llm_spans: Whether LLM calls become ``chat`` spans: ``"auto"`` (the default) for
            every call the anthropic SDK made no call span of its own for (seen on
            ``tracer_provider``, an SDK ``TracerProvider``), ``True`` for every call (two
            client spans where the SDK's are on), ``False`` for none. The metrics are kept.
        max_runs: Runs kept open at most; past it the oldest unfinished run's span is ended
            and forgotten (counted as ``runs_evicted``).

    Raises:
        ValueError: ``max_runs`` below 1, or ``llm_spans`` not ``True``, ``False`` or ``"auto"``.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        *,
        llm_spans: bool | Literal["auto"] = "auto",
        max_runs: int = 10_000,
    ) -> None:
        if max_runs < 1:
            raise ValueError(f"max_runs must be at least 1, got {max_runs!r}")
        if llm_spans not in (True, False, "auto"):
            raise ValueError(f'llm_spans must be True, False or "auto", got {llm_spans!r}')
        self._tracer = trace.get_tracer(_SCOPE, _VERSION or None, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, _VERSION, meter_provider=meter_provider)
        self._tokens = _histogram(
            meter,
            "gen_ai.client.token.usage",
            "{token}",
            "Number of input and output tokens used.",
            TOKEN_BOUNDARIES,
        )
        self._duration = _histogram(
            meter,
            "gen_ai.client.operation.duration",
            "s",
            "GenAI operation duration.",
            DURATION_BOUNDARIES_S,
        )
        self._llm_spans = llm_spans
        self._tracer_provider = tracer_provider
        self._sdk_spans: SDKCallSpans | None = (
            call_spans_of(tracer_provider) if llm_spans == "auto" else None
        )
        self._sdk_spans_retry_at = 0.0
        self._runs = RunTable(max_runs)
        self._metric_attributes: dict[tuple[str, str, str | None], _MetricAttributes] = {}
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._episodes = FailureEpisodes(_logger)
        self._failing: set[str] = set()
        self._lock = threading.Lock()
        self._attached: dict[Bus, Subscription] = {}

    def attach(self, bus: Bus | None = None) -> Subscription:
        """Start turning the events of ``bus`` (the default bus) into telemetry.

        Attaching again to a bus this subscriber listens on returns the same subscription.
        """
        bus = default_bus if bus is None else bus
        with self._lock:
            found = self._attached.get(bus)
            if found is not None and not found.closed:
                return found
            subscription = bus.subscribe(self._on_event, name="agentguard_otel")
            self._attached[bus] = subscription
        return subscription

    def close(self) -> None:
        """Stop listening on every bus and end the spans of runs still open.

        A run still in progress keeps its (ended) span current in its own context until it
        returns, so close the subscriber when no run is in flight.
        """
        with self._lock:
            attached, self._attached = self._attached, {}
        for subscription in attached.values():
            subscription.close()
        for run in self._runs.clear():
            run.span.end()

    def counts(self) -> dict[str, int]:
        """What could not become telemetry, by reason, since the subscriber was made.

        ``span_events_without_run``: a breaker, loop, budget or cache event outside any open
        run; ``runs_evicted``: unfinished runs forgotten past ``max_runs``;
        ``detach_failed``: a run that finished in another context than it started in (its
        span is ended all the same); ``invalid_<kind>``: an event with a value OpenTelemetry
        cannot take (a NaN or infinite time, say).
        """
        with self._counts_lock:
            return dict(self._counts)

    def _count(self, reason: str, n: int = 1) -> None:
        with self._counts_lock:
            self._counts[reason] += n

    def _on_event(self, event: Event) -> None:
        try:
            self._handle(event)
        except (ValueError, TypeError, OverflowError) as exc:
            key = f"invalid_{event.kind}"
            self._count(key)
            self._failing.add(key)
            self._episodes.failed(f"agentguard.otel {event.kind}", f"dropped {event!r}", exc)
            return
        if self._failing:
            key = f"invalid_{event.kind}"
            if key in self._failing:
                self._failing.discard(key)
                self._episodes.recovered(f"agentguard.otel {event.kind}")

    def _handle(self, event: Event) -> None:
        match event:
            case LLMCallFinished():
                self._llm_call(event)
            case ToolCallFinished():
                self._tool_call(event)
            case RunStarted():
                self._run_started(event)
            case RunFinished():
                self._run_finished(event)
            case (
                BreakerStateChanged()
                | BreakerRejected()
                | LoopDetected()
                | BudgetExceeded()
                | PromptCacheRegressed()
            ):
                self._span_event(event)
            case PromptCacheUsage() | ErrorClassified() | AlertStateChanged():
                pass  # carried by the chat span's attributes, or not about a run
            case _:
                _assert_never(event)

    def _run_started(self, event: RunStarted) -> None:
        if event.run_id is None:
            return
        span = self._tracer.start_span(
            f"invoke_agent {event.agent}" if event.agent else "invoke_agent",
            kind=SpanKind.INTERNAL,
            attributes=run_attributes(event),
            start_time=to_ns(event.at_unix_s),
        )
        parent = trace.set_span_in_context(span)
        token = otel_context.attach(parent)
        evicted = self._runs.add(event.run_id, OpenRun(span, parent, token))
        if evicted:
            self._count("runs_evicted", len(evicted))
            for run in evicted:
                run.span.end()

    def _run_finished(self, event: RunFinished) -> None:
        run = self._runs.pop(event.run_id)
        if run is None:
            return
        try:
            if not detach(run.token):
                self._count("detach_failed")
            span = run.span
            if event.cost_usd is not None:
                span.set_attribute("agentguard.cost_usd", event.cost_usd)
            if not event.ok:
                error = event.error_kind or "_OTHER"
                span.set_attribute("error.type", error)
                span.set_status(Status(StatusCode.ERROR, error))
        finally:
            run.span.end(end_time=to_ns(event.at_unix_s))

    def _llm_call(self, event: LLMCallFinished) -> None:
        start, end = interval_ns(event.at_unix_s, event.duration_s)
        if self._llm_spans is True or (self._llm_spans == "auto" and not self._sdk_spanned(event)):
            self._finished_span(
                f"chat {request_model(event)}",
                SpanKind.CLIENT,
                chat_attributes(event),
                event,
                (start, end),
            )
        key = (
            provider_name(event.provider),
            request_model(event),
            None if event.ok else event.error_kind or "_OTHER",
        )
        sets = self._metric_attributes.get(key) or self._new_metric_attributes(key)
        record = self._tokens.record
        if event.ok or event.context_tokens or event.output_tokens:
            record(event.context_tokens, sets[0])
            record(event.output_tokens, sets[1])
        self._duration.record((end - start) / 1e9, sets[2])

    def _sdk_spanned(self, event: LLMCallFinished) -> bool:
        """Whether the anthropic SDK made a call span for ``event``'s call (claimed if so)."""
        if event.batch_id is not None:
            return False  # a Message Batch result: the SDK has no span per request
        watcher = self._sdk_spans
        if watcher is None:  # the global provider was not configured yet when made
            now = time.monotonic()
            if now < self._sdk_spans_retry_at:
                return False
            self._sdk_spans_retry_at = now + 1.0  # the lookup costs ~1 us: once a second
            watcher = self._sdk_spans = call_spans_of(self._tracer_provider)
            if watcher is None:
                return False
        return watcher.claim(event.request_id)

    def _new_metric_attributes(self, key: tuple[str, str, str | None]) -> _MetricAttributes:
        provider, model, error = key
        common = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
        }
        duration = common if error is None else {**common, "error.type": error}
        sets = (
            {**common, "gen_ai.token.type": "input"},
            {**common, "gen_ai.token.type": "output"},
            duration,
        )
        if len(self._metric_attributes) < _METRIC_ATTRIBUTE_SETS:
            self._metric_attributes[key] = sets
        return sets

    def _tool_call(self, event: ToolCallFinished) -> None:
        self._finished_span(
            f"execute_tool {event.tool}",
            SpanKind.INTERNAL,
            tool_attributes(event),
            event,
            interval_ns(event.at_unix_s, event.duration_s),
        )

    def _finished_span(
        self,
        name: str,
        kind: SpanKind,
        attributes: Attributes,
        event: LLMCallFinished | ToolCallFinished,
        interval: tuple[int, int],
    ) -> None:
        """A span for something that already happened: a child of its run, times from the event."""
        start_ns, end_ns = interval
        run = self._runs.get(event.run_id)
        span = self._tracer.start_span(
            name,
            context=None if run is None else run.parent,
            kind=kind,
            attributes=attributes,
            start_time=start_ns,
        )
        if not event.ok:
            span.set_status(Status(StatusCode.ERROR, event.error_kind))
        span.end(end_time=end_ns)

    def _span_event(
        self,
        event: BreakerStateChanged
        | BreakerRejected
        | LoopDetected
        | BudgetExceeded
        | PromptCacheRegressed,
    ) -> None:
        run = self._runs.get(event.run_id)
        if run is None:
            self._count("span_events_without_run")
            return
        run.span.add_event(
            event.kind, attributes=span_event_attributes(event), timestamp=to_ns(event.at_unix_s)
        )

    def __repr__(self) -> str:
        return f"<OTelSubscriber on {len(self._attached)} bus(es), {len(self._runs)} open run(s)>"


def _histogram(
    meter: Meter, name: str, unit: str, description: str, boundaries: Sequence[float]
) -> Histogram:
    """A histogram with the conventions' boundaries, where the installed API can advise them."""
    advises = _ADVISES.get(type(meter))
    if advises is None:
        parameters = inspect.signature(meter.create_histogram).parameters
        advises = _ADVISES[type(meter)] = "explicit_bucket_boundaries_advisory" in parameters
    if advises:
        return meter.create_histogram(
            name,
            unit=unit,
            description=description,
            explicit_bucket_boundaries_advisory=boundaries,
        )
    return meter.create_histogram(name, unit=unit, description=description)  # API < 1.23


def _assert_never(value: NoReturn) -> NoReturn:
    """``typing.assert_never`` (Python 3.11+): a new event type is a type error until handled."""
    raise AssertionError(f"unhandled event type {type(value).__qualname__}")
