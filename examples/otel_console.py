"""An agent's runs, LLM calls and tool calls as OpenTelemetry spans and metrics on the console.

The same workflow as OTEL_TRACES_EXPORTER=console: spans and metrics printed as JSON. Runs
against the project's fake Messages API (no API key, no network).
"""

from __future__ import annotations

import anthropic
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from agentguard_fake import FakeAnthropicServer, Reply, ToolUse
from agentguard_otel import OTelSubscriber
from agentguard_trace import instrument, tool, traced


@tool
def lookup_order(order_id: int) -> str:
    return f"order {order_id}: shipped"


def main() -> None:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    meter_provider = MeterProvider(
        metric_readers=[PeriodicExportingMetricReader(ConsoleMetricExporter())]
    )
    subscriber = OTelSubscriber(tracer_provider, meter_provider)
    subscriber.attach()  # the default bus

    with FakeAnthropicServer(seed=1) as server:
        client = instrument(anthropic.Anthropic(base_url=server.url, api_key="demo"))

        @traced(agent="support")
        def answer(question: str) -> str:
            history: list[anthropic.types.MessageParam] = [{"role": "user", "content": question}]
            while True:
                reply = client.messages.create(
                    model="claude-sonnet-4-6", max_tokens=512, messages=history
                )
                if reply.stop_reason != "tool_use":
                    return "".join(b.text for b in reply.content if b.type == "text")
                call = next(b for b in reply.content if b.type == "tool_use")
                result = lookup_order(**call.input)  # type: ignore[arg-type]  # the fake's input
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
            Reply(text="Your order 1234 shipped yesterday."),
        )
        print(answer("Where is my order 1234?"))
        client.close()
    subscriber.close()
    tracer_provider.shutdown()  # flushes the batch: the spans are printed here
    meter_provider.shutdown()  # and the metrics here


if __name__ == "__main__":
    main()
