"""One client span per LLM call, whether or not the anthropic SDK makes its own call spans.

The real SDK talks HTTP to the fake Messages API; its spans (``open_telemetry`` client option)
and the subscriber's go to the same SDK tracer provider.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from agentguard import Bus
from agentguard_fake import Fail, FakeAnthropicServer
from agentguard_otel import OTelSubscriber
from agentguard_trace import instrument, traced

_ASK: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(seed=11) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeAnthropicServer) -> FakeAnthropicServer:
    server.reset()
    return server


class Pipeline:
    """A tracer provider into memory, a meter provider, a bus and a subscriber on it."""

    def __init__(self, llm_spans: bool | str = "auto") -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.bus = Bus()
        self.subscriber = OTelSubscriber(
            self.provider,
            MeterProvider(metric_readers=[self.reader]),
            llm_spans=llm_spans,  # type: ignore[arg-type]  # str: the test of a bad value
        )
        self.subscriber.attach(self.bus)
        self.clients: list[anthropic.Anthropic] = []

    def client(self, url: str, *, sdk_spans: bool, **options: Any) -> anthropic.Anthropic:
        otel: Any = {"tracer_provider": self.provider} if sdk_spans else False
        client = anthropic.Anthropic(
            base_url=url, api_key="test-key", open_telemetry=otel, **options
        )
        self.clients.append(client)
        return instrument(client, bus=self.bus)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.subscriber.close()

    def client_spans(self) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]

    def token_points(self) -> int:
        data = self.reader.get_metrics_data()
        assert data is not None
        return sum(
            len(metric.data.data_points)
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == "gen_ai.client.token.usage"
        )


@pytest.fixture
def pipelines() -> Iterator[list[Pipeline]]:
    """Pipelines a test makes, closed after it (their clients' connections too)."""
    made: list[Pipeline] = []
    yield made
    for pipeline in made:
        pipeline.close()


def _calls(client: anthropic.Anthropic, fake: FakeAnthropicServer) -> int:
    """Every way of calling: plain, streamed, the stream helper, beta, abandoned, failed."""
    client.messages.create(**_ASK)
    for _ in client.messages.create(stream=True, **_ASK):
        pass
    with client.messages.stream(**_ASK) as stream:
        stream.get_final_message()
    client.beta.messages.create(**_ASK)
    abandoned = client.messages.create(stream=True, **_ASK)
    next(iter(abandoned))
    abandoned.close()  # agentguard's event comes before the SDK ends its span here
    fake.enqueue(Fail(status=400))
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(**_ASK)
    return 6


def test_with_the_sdks_spans_on_each_call_has_one_client_span_the_sdks(
    fake: FakeAnthropicServer, pipelines: list[Pipeline]
) -> None:
    otel = Pipeline()
    pipelines.append(otel)
    calls = _calls(otel.client(fake.url, sdk_spans=True, max_retries=0), fake)

    spans = otel.client_spans()
    assert [s.name for s in spans] == ["anthropic.messages.create"] * calls
    assert {s.instrumentation_scope.name for s in spans if s.instrumentation_scope} == {
        "com.anthropic.sdk.python"
    }
    assert otel.token_points() > 0  # the metrics are kept
    # agentguard's watching of a streamed body leaves the SDK's own reading of it intact
    for span in spans[:4]:  # the calls read to their end
        output_tokens = (span.attributes or {}).get("gen_ai.usage.output_tokens")
        assert isinstance(output_tokens, int) and output_tokens > 0, span.name


def test_a_connection_error_with_the_sdks_spans_on_is_one_client_span(
    unused_port: int, pipelines: list[Pipeline]
) -> None:
    otel = Pipeline()
    pipelines.append(otel)
    client = otel.client(f"http://127.0.0.1:{unused_port}", sdk_spans=True, max_retries=0)
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.create(**_ASK)
    assert [s.name for s in otel.client_spans()] == ["anthropic.messages.create"]


def test_with_the_sdks_spans_off_each_call_has_our_chat_span(
    fake: FakeAnthropicServer, pipelines: list[Pipeline]
) -> None:
    otel = Pipeline()
    pipelines.append(otel)
    calls = _calls(otel.client(fake.url, sdk_spans=False, max_retries=0), fake)

    spans = otel.client_spans()
    assert [s.name for s in spans] == ["chat claude-sonnet-4-6"] * calls
    costs = [(s.attributes or {}).get("agentguard.cost_usd") for s in spans]
    assert all(isinstance(cost, float) for cost in costs)
    assert isinstance(costs[0], float) and costs[0] > 0


def test_llm_spans_true_gives_both_spans(
    fake: FakeAnthropicServer, pipelines: list[Pipeline]
) -> None:
    otel = Pipeline(llm_spans=True)
    pipelines.append(otel)
    client = otel.client(fake.url, sdk_spans=True)
    client.messages.create(**_ASK)
    names = sorted(s.name for s in otel.client_spans())
    assert names == ["anthropic.messages.create", "chat claude-sonnet-4-6"]


def test_the_run_span_is_the_parent_of_the_sdks_call_span(
    fake: FakeAnthropicServer, pipelines: list[Pipeline]
) -> None:
    otel = Pipeline()
    pipelines.append(otel)
    client = otel.client(fake.url, sdk_spans=True)

    @traced(agent="support", bus=otel.bus)
    def agent() -> None:
        client.messages.create(**_ASK)

    agent()
    finished = otel.exporter.get_finished_spans()
    (run,) = [s for s in finished if s.name == "invoke_agent support"]
    (call,) = otel.client_spans()
    assert call.parent is not None and run.context is not None
    assert call.parent.span_id == run.context.span_id


def test_llm_spans_takes_only_true_false_or_auto() -> None:
    with pytest.raises(ValueError, match="llm_spans"):
        Pipeline(llm_spans="yes")


def test_the_instrumentor_measures_every_client_and_uninstrument_undoes_it(
    fake: FakeAnthropicServer,
) -> None:
    from agentguard_otel.instrumentor import AgentGuardInstrumentor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = AgentGuardInstrumentor()
    with anthropic.Anthropic(base_url=fake.url, api_key="test-key", open_telemetry=False) as made:
        instrumentor.instrument(tracer_provider=provider, meter_provider=MeterProvider())
        try:
            with anthropic.Anthropic(
                base_url=fake.url, api_key="test-key", open_telemetry=False
            ) as later:
                made.messages.create(**_ASK)  # made before instrument()
                later.messages.create(**_ASK)
        finally:
            instrumentor.uninstrument()
        assert [s.name for s in exporter.get_finished_spans()] == ["chat claude-sonnet-4-6"] * 2

        exporter.clear()
        made.messages.create(**_ASK)
        assert exporter.get_finished_spans() == ()


def test_unclaimed_sdk_spans_are_bounded() -> None:
    from agentguard_otel._sdk_spans import CALL_SPAN, REQUEST_ID, SCOPE, call_spans_of

    provider = TracerProvider()
    watcher = call_spans_of(provider)
    assert watcher is not None and call_spans_of(provider) is watcher  # one per provider
    tracer = provider.get_tracer(SCOPE)
    for n in range(5_000):  # calls of clients agentguard does not measure: never claimed
        tracer.start_span(CALL_SPAN, attributes={REQUEST_ID: f"req_{n}"}).end()
    assert not watcher.claim("req_0")  # the oldest were forgotten
    assert watcher.claim("req_4999")
    assert not watcher.claim("req_4999")  # a span is claimed once


def test_an_sdk_span_in_flight_is_claimed_once_and_not_again_when_it_ends() -> None:
    from agentguard_otel._sdk_spans import CALL_SPAN, REQUEST_ID, SCOPE, call_spans_of

    provider = TracerProvider()
    watcher = call_spans_of(provider)
    assert watcher is not None
    span = provider.get_tracer(SCOPE).start_span(CALL_SPAN, attributes={REQUEST_ID: "req_1"})
    assert watcher.claim("req_1")  # an abandoned stream: the event comes first
    span.end()
    assert not watcher.claim("req_1")
