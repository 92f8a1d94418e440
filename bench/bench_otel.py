"""The OpenTelemetry subscriber: one LLM call through the bus against hand-written code.

The hand-written instrumentation is what one writes around ``messages.create`` by hand, in
the same run (the run's ``invoke_agent`` span current): a ``chat`` span started as the current
span with the request attributes, the usage attributes set when the response arrives, and the
same histogram records (input and output tokens, duration) with their attribute dicts. Both
use the same tracer and meter providers: a ``BatchSpanProcessor`` into an exporter that
discards, and an SDK ``MeterProvider``. The subscriber's figure includes ``Bus.publish``.

Attach cost is measured with the API only (no SDK provider configured: the global no-op ones).
"""

from __future__ import annotations

import time
import timeit
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from agentguard import Bus
from agentguard.context import run_context
from agentguard.events import LLMCallFinished, RunFinished, RunStarted
from agentguard_otel import OTelSubscriber
from bench._harness import Report, ns_per_call, sample_llm_call

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram

COMMAND = "nox -s bench -- otel   (or: python -m bench otel)"

_MODEL = "claude-sonnet-4-5"


class _Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _event() -> LLMCallFinished:
    return sample_llm_call(_MODEL)


def _hand_written(
    tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Callable[[LLMCallFinished], None]:
    """The same span and histogram records, written by hand around the call."""
    tracer = tracer_provider.get_tracer("hand")
    meter = meter_provider.get_meter("hand")
    tokens: Histogram = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")
    duration: Histogram = meter.create_histogram("gen_ai.client.operation.duration", unit="s")

    def record(e: LLMCallFinished) -> None:
        started = time.perf_counter()
        with tracer.start_as_current_span(
            f"chat {e.model}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": e.model,
            },
        ) as span:
            # ... the call to messages.create happens here ...
            span.set_attributes(
                {
                    "gen_ai.usage.input_tokens": e.context_tokens,
                    "gen_ai.usage.output_tokens": e.output_tokens,
                    "gen_ai.usage.cache_read.input_tokens": e.cache_read_tokens,
                    "gen_ai.usage.cache_creation.input_tokens": (
                        e.cache_write_5m_tokens + e.cache_write_1h_tokens
                    ),
                    "gen_ai.response.finish_reasons": (e.stop_reason or "",),
                    "agentguard.cost_usd": e.cost_usd or 0.0,
                    "agentguard.retries": e.retries,
                    "anthropic.request.id": e.request_id or "",
                }
            )
        common = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": e.model,
        }
        tokens.record(e.context_tokens, {**common, "gen_ai.token.type": "input"})
        tokens.record(e.output_tokens, {**common, "gen_ai.token.type": "output"})
        duration.record(time.perf_counter() - started, common)

    return record


def _interleaved(
    a: Callable[[LLMCallFinished], object],
    b: Callable[[LLMCallFinished], object],
    rounds: int = 7,
    number: int = 5_000,
) -> tuple[float, float]:
    """Best ns per call of ``a(event)`` and ``b(event)``, measured in alternation."""
    event = _event()
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for i, call in enumerate((a, b)):
            timer = timeit.Timer("call(event)", globals={"call": call, "event": event})
            best[i] = min(best[i], timer.timeit(number=number) / number * 1e9)
    return best[0], best[1]


def run() -> Report:
    """Measure and return the report."""
    report = Report("otel: subscriber against hand-written OpenTelemetry", COMMAND)

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_Discard()))
    meter_provider = MeterProvider()
    bus = Bus()
    subscriber = OTelSubscriber(tracer_provider, meter_provider)
    subscriber.attach(bus)
    hand = _hand_written(tracer_provider, meter_provider)
    results: dict[str, float] = {}
    with run_context("bench"):
        bus.publish(RunStarted())  # the run's span is current for both
        results["bus"], results["hand"] = _interleaved(bus.publish, hand)
        bus.publish(RunFinished(duration_s=1.0, ok=True))
    subscriber.close()
    tracer_provider.shutdown()
    meter_provider.shutdown()
    report.measured("one LLMCallFinished through the bus into the subscriber", results["bus"])
    report.measured("    reference: hand-written span and histogram records", results["hand"])
    report.target(
        "subscriber / hand-written OpenTelemetry", results["bus"] / results["hand"], 1.0, "x"
    )

    def attach_and_close() -> None:
        OTelSubscriber().attach(api_bus).close()

    api_bus = Bus()
    report.measured(
        "API only: OTelSubscriber() + attach + close",
        ns_per_call(attach_and_close, number=2_000, repeat=5),
    )
    api_subscriber = OTelSubscriber()
    api_subscriber.attach(api_bus)
    event: Any = _event()
    report.measured(
        "API only: one LLMCallFinished through the bus (no-op providers)",
        ns_per_call("publish(event)", {"publish": api_bus.publish, "event": event}, number=50_000),
    )
    api_subscriber.close()
    return report


if __name__ == "__main__":
    run().print()
