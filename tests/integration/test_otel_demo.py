"""agentguard-otel on the real anthropic SDK, against the project's fake Messages API server."""

from __future__ import annotations

import anthropic
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentguard import Bus
from agentguard_fake import FakeAnthropicServer, Reply, ToolUse
from agentguard_otel import OTelSubscriber
from agentguard_trace import instrument, tool, traced

MODEL = "claude-sonnet-4-6"


def test_a_traced_agent_on_the_real_sdk_becomes_a_span_tree() -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    bus = Bus()
    subscriber = OTelSubscriber(tracer_provider, meter_provider)
    subscriber.attach(bus)

    @tool(bus=bus)
    def lookup_order(order_id: int) -> str:
        return f"order {order_id}: shipped"

    with FakeAnthropicServer(seed=1) as server:
        client = instrument(
            anthropic.Anthropic(base_url=server.url, api_key="test-key", max_retries=0), bus=bus
        )
        try:

            @traced(agent="support", bus=bus)
            def answer(question: str) -> str:
                history: list[anthropic.types.MessageParam] = [
                    {"role": "user", "content": question}
                ]
                while True:
                    reply = client.messages.create(model=MODEL, max_tokens=512, messages=history)
                    if reply.stop_reason != "tool_use":
                        return "".join(b.text for b in reply.content if b.type == "text")
                    call = next(b for b in reply.content if b.type == "tool_use")
                    result = lookup_order(**call.input)  # type: ignore[arg-type]  # fake's input
                    history += [
                        {"role": "assistant", "content": reply.content},
                        {
                            "role": "user",
                            "content": [
                                {"type": "tool_result", "tool_use_id": call.id, "content": result}
                            ],
                        },
                    ]

            server.enqueue(
                Reply(tool_use=ToolUse(name="lookup_order", input={"order_id": 1234})),
                Reply(text="It shipped.", input_tokens=100, output_tokens=20),
            )
            assert answer("Where is order 1234?") == "It shipped."
        finally:
            client.close()
    subscriber.close()

    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == [
        f"chat {MODEL}",
        "execute_tool lookup_order",
        f"chat {MODEL}",
        "invoke_agent support",
    ]
    run = spans[-1]
    assert run.parent is None
    for child in spans[:-1]:
        assert child.parent is not None and child.parent.span_id == run.context.span_id
        start, end = child.start_time, child.end_time
        assert start is not None and end is not None and run.start_time is not None
        assert run.start_time <= start <= end
    second = spans[2].attributes or {}
    assert second["gen_ai.usage.input_tokens"] == 100
    assert second["gen_ai.usage.output_tokens"] == 20
    assert second["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert isinstance(second["anthropic.request.id"], str)
    assert bus.subscriber_errors() == {}
    assert subscriber.counts() == {}
    tracer_provider.shutdown()
    meter_provider.shutdown()


def test_the_sdks_own_chat_spans_nest_under_the_run_and_are_not_duplicated() -> None:
    """With the anthropic SDK's OpenTelemetry spans on, `llm_spans=False` leaves chat spans to
    the SDK; they are children of our run span because the run span is current."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    bus = Bus()
    subscriber = OTelSubscriber(tracer_provider, llm_spans=False)
    subscriber.attach(bus)
    with FakeAnthropicServer(seed=2) as server:
        client = instrument(
            anthropic.Anthropic(
                base_url=server.url,
                api_key="test-key",
                max_retries=0,
                open_telemetry={"tracer_provider": tracer_provider},
            ),
            bus=bus,
        )
        try:
            with traced(agent="support", bus=bus):
                server.enqueue(Reply(text="Hi.", input_tokens=10, output_tokens=3))
                client.messages.create(
                    model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
                )
        finally:
            client.close()
    subscriber.close()
    spans = exporter.get_finished_spans()
    run = next(s for s in spans if s.name == "invoke_agent support")
    chats = [s for s in spans if s is not run]
    assert len(chats) == 1, [s.name for s in spans]
    (chat,) = chats
    assert chat.instrumentation_scope is not None
    assert chat.instrumentation_scope.name == "com.anthropic.sdk.python"
    assert chat.parent is not None
    assert chat.parent.span_id == run.context.span_id
    assert (chat.attributes or {})["gen_ai.usage.output_tokens"] == 3
    tracer_provider.shutdown()
