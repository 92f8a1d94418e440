"""OTelSubscriber with the SDK's in-memory span exporter and metric reader, never the globals."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentguard.context import run_context
from agentguard.events import (
    BreakerStateChanged,
    BudgetExceeded,
    LLMCallFinished,
    LoopDetected,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from agentguard.testing import StrictBus
from agentguard_otel import OTelSubscriber

T0 = 1_767_225_600.0
T0_NS = 1_767_225_600 * 10**9
NS_SLACK = 1_000  # a float of epoch seconds holds ns to about 256 ns
MODEL = "claude-sonnet-4-6"

FIRST: dict[str, Any] = {
    "model": MODEL,
    "input_tokens": 1_200,
    "output_tokens": 300,
    "cache_read_tokens": 9_000,
    "cache_write_5m_tokens": 400,
    "cache_write_1h_tokens": 100,
    "cost_usd": 0.0123,
    "duration_s": 1.5,
    "stop_reason": "tool_use",
    "request_id": "req_1",
    "retries": 1,
}
SECOND: dict[str, Any] = {
    "model": MODEL,
    "input_tokens": 50,
    "output_tokens": 80,
    "cache_read_tokens": 10_700,
    "duration_s": 2.0,
    "stop_reason": "end_turn",
    "request_id": "req_2",
}


@dataclass
class Otel:
    """What a test sees: the bus to publish on, and the spans and metrics that came out."""

    bus: StrictBus
    subscriber: OTelSubscriber
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans (named ``name``), in the order they ended."""
        spans = self.exporter.get_finished_spans()
        return [span for span in spans if name is None or span.name == name]

    def points(self, metric: str) -> list[HistogramDataPoint]:
        """The data points of one histogram."""
        data = self.reader.get_metrics_data()
        found: list[HistogramDataPoint] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found += [
                            p for p in m.data.data_points if isinstance(p, HistogramDataPoint)
                        ]
        return found


def _make_otel(*, llm_spans: bool = True, max_runs: int = 10_000) -> Otel:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    subscriber = OTelSubscriber(
        tracer_provider, meter_provider, llm_spans=llm_spans, max_runs=max_runs
    )
    bus = StrictBus()
    subscriber.attach(bus)
    return Otel(bus, subscriber, exporter, reader, tracer_provider, meter_provider)


OtelFactory = Callable[..., Otel]


@pytest.fixture
def make_otel() -> Iterator[OtelFactory]:
    """``make_otel(llm_spans=..., max_runs=...)``: a fresh :class:`Otel`, shut down after."""
    made: list[Otel] = []

    def make(**options: Any) -> Otel:
        made.append(_make_otel(**options))
        return made[-1]

    yield make
    for o in made:
        o.subscriber.close()
        o.tracer_provider.shutdown()
        o.meter_provider.shutdown()


@pytest.fixture
def otel(make_otel: OtelFactory) -> Otel:
    """An :class:`Otel` with the default options."""
    return make_otel()


def _near(value: int | None, expected_ns: int) -> bool:
    return value is not None and abs(value - expected_ns) <= NS_SLACK


def _demo_run(bus: StrictBus, *, ok: bool = True) -> tuple[str, str]:
    """RunStarted, two LLM calls, a tool call, a breaker change, a loop, RunFinished."""
    with run_context("support") as run:
        bus.publish(RunStarted(at_unix_s=T0))
        bus.publish(LLMCallFinished(at_unix_s=T0 + 2.0, **FIRST))
        bus.publish(ToolCallFinished(at_unix_s=T0 + 3.0, tool="lookup_order", duration_s=0.5))
        bus.publish(
            BreakerStateChanged(
                at_unix_s=T0 + 3.5,
                breaker="anthropic",
                old_state="closed",
                new_state="open",
                failure_count=5,
            )
        )
        bus.publish(
            LoopDetected(
                at_unix_s=T0 + 4.0, tool="lookup_order", pattern="repeat", repeats=3, action="warn"
            )
        )
        bus.publish(LLMCallFinished(at_unix_s=T0 + 5.5, **SECOND))
        bus.publish(
            RunFinished(
                at_unix_s=T0 + 6.0,
                duration_s=6.0,
                ok=ok,
                error_kind=None if ok else "rate_limited",
                cost_usd=0.0150,
            )
        )
    return run.run_id, run.session_id


def test_a_run_becomes_a_span_tree_with_every_attribute(otel: Otel) -> None:
    run_id, session_id = _demo_run(otel.bus)

    (run,) = otel.spans("invoke_agent support")
    first, second = otel.spans("chat claude-sonnet-4-6")
    (tool,) = otel.spans("execute_tool lookup_order")
    assert len(otel.spans()) == 4
    assert run.parent is None
    assert run.kind is SpanKind.INTERNAL
    assert run.status.status_code is StatusCode.UNSET
    assert dict(run.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "support",
        "agentguard.run_id": run_id,
        "agentguard.session_id": session_id,
        "agentguard.cost_usd": 0.0150,
    }
    assert _near(run.start_time, T0_NS)
    assert _near(run.end_time, T0_NS + 6 * 10**9)

    for child in (first, second, tool):
        assert child.parent is not None
        assert child.parent.span_id == run.context.span_id
        assert child.context.trace_id == run.context.trace_id
    assert first.kind is SpanKind.CLIENT
    assert dict(first.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "gen_ai.usage.input_tokens": 1_200 + 9_000 + 400 + 100,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cache_read.input_tokens": 9_000,
        "gen_ai.usage.cache_creation.input_tokens": 500,
        "gen_ai.response.finish_reasons": ("tool_use",),
        "agentguard.cost_usd": 0.0123,
        "agentguard.retries": 1,
        "agentguard.run_id": run_id,
        "anthropic.request.id": "req_1",
    }
    assert "gen_ai.response.id" not in (first.attributes or {})
    assert _near(first.start_time, T0_NS + 500_000_000)
    assert _near(first.end_time, T0_NS + 2 * 10**9)
    assert dict(second.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "gen_ai.usage.input_tokens": 10_750,
        "gen_ai.usage.output_tokens": 80,
        "gen_ai.usage.cache_read.input_tokens": 10_700,
        "gen_ai.usage.cache_creation.input_tokens": 0,
        "gen_ai.response.finish_reasons": ("end_turn",),
        "agentguard.retries": 0,
        "agentguard.run_id": run_id,
        "anthropic.request.id": "req_2",
    }
    assert _near(second.start_time, T0_NS + 3_500_000_000)
    assert _near(second.end_time, T0_NS + 5_500_000_000)
    assert tool.kind is SpanKind.INTERNAL
    assert dict(tool.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup_order",
        "agentguard.run_id": run_id,
    }
    assert _near(tool.start_time, T0_NS + 2_500_000_000)
    assert _near(tool.end_time, T0_NS + 3 * 10**9)

    breaker, loop = run.events
    assert breaker.name == "breaker.state"
    assert dict(breaker.attributes or {}) == {
        "breaker": "anthropic",
        "old_state": "closed",
        "new_state": "open",
        "failure_count": 5,
    }
    assert _near(breaker.timestamp, T0_NS + 3_500_000_000)
    assert loop.name == "loop.detected"
    assert dict(loop.attributes or {}) == {
        "tool": "lookup_order",
        "pattern": "repeat",
        "repeats": 3,
        "action": "warn",
    }
    assert otel.subscriber.counts() == {}


def test_a_span_started_inside_the_run_is_a_child_of_the_run_span(otel: Otel) -> None:
    tracer = otel.tracer_provider.get_tracer("com.anthropic.sdk.python")
    with run_context("support"):
        otel.bus.publish(RunStarted(at_unix_s=T0))
        with (
            tracer.start_as_current_span("chat claude-sonnet-4-6 (sdk)"),
            tracer.start_as_current_span("nested"),
        ):
            pass
        otel.bus.publish(RunFinished(at_unix_s=T0 + 1.0, duration_s=1.0, ok=True))
    with tracer.start_as_current_span("after the run"):
        pass

    (run,) = otel.spans("invoke_agent support")
    (sdk,) = otel.spans("chat claude-sonnet-4-6 (sdk)")
    (nested,) = otel.spans("nested")
    (after,) = otel.spans("after the run")
    assert sdk.parent is not None and sdk.parent.span_id == run.context.span_id
    assert nested.parent is not None and nested.parent.span_id == sdk.context.span_id
    assert after.parent is None, "the run span must be detached when the run finishes"
    assert after.context.trace_id != run.context.trace_id


def test_nested_runs_nest_their_spans(otel: Otel) -> None:
    with run_context("support"):
        otel.bus.publish(RunStarted(at_unix_s=T0))
        with run_context("researcher") as inner:
            otel.bus.publish(RunStarted(at_unix_s=T0 + 1, parent_run_id=inner.parent_run_id))
            otel.bus.publish(LLMCallFinished(at_unix_s=T0 + 2, model=MODEL, duration_s=0.5))
            otel.bus.publish(RunFinished(at_unix_s=T0 + 3, duration_s=2.0, ok=True))
        otel.bus.publish(RunFinished(at_unix_s=T0 + 4, duration_s=4.0, ok=True))

    (outer_span,) = otel.spans("invoke_agent support")
    (inner_span,) = otel.spans("invoke_agent researcher")
    (chat,) = otel.spans(f"chat {MODEL}")
    assert inner_span.parent is not None
    assert inner_span.parent.span_id == outer_span.context.span_id
    assert (inner_span.attributes or {})["agentguard.parent_run_id"] == inner.parent_run_id
    assert chat.parent is not None and chat.parent.span_id == inner_span.context.span_id


def test_llm_spans_false_leaves_chat_spans_to_the_sdk_but_keeps_the_metrics(
    make_otel: OtelFactory,
) -> None:
    otel = make_otel(llm_spans=False)
    _demo_run(otel.bus)

    assert sorted(span.name for span in otel.spans()) == [
        "execute_tool lookup_order",
        "invoke_agent support",
    ]
    assert sum(p.count for p in otel.points("gen_ai.client.operation.duration")) == 2


def test_a_failed_run_and_a_failed_call_carry_error_status_and_type(otel: Otel) -> None:
    with run_context("support"):
        otel.bus.publish(RunStarted(at_unix_s=T0))
        otel.bus.publish(
            LLMCallFinished(
                at_unix_s=T0 + 1,
                model=MODEL,
                duration_s=0.25,
                ok=False,
                error_kind="overloaded",
                request_id="req_9",
            )
        )
        otel.bus.publish(
            ToolCallFinished(
                at_unix_s=T0 + 1.5, tool="search", duration_s=0.1, ok=False, error_kind="timeout"
            )
        )
        otel.bus.publish(
            RunFinished(at_unix_s=T0 + 2, duration_s=2.0, ok=False, error_kind="overloaded")
        )

    (run,) = otel.spans("invoke_agent support")
    (chat,) = otel.spans(f"chat {MODEL}")
    (tool,) = otel.spans("execute_tool search")
    for span, kind in ((run, "overloaded"), (chat, "overloaded"), (tool, "timeout")):
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == kind
        assert (span.attributes or {})["error.type"] == kind
    assert "agentguard.cost_usd" not in (run.attributes or {})
    assert "agentguard.cost_usd" not in (chat.attributes or {})
    assert "gen_ai.response.finish_reasons" not in (chat.attributes or {})
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert dict(duration.attributes or {})["error.type"] == "overloaded"
    assert otel.points("gen_ai.client.token.usage") == []  # no tokens were used


def test_token_histograms_sum_to_the_events_totals(otel: Otel) -> None:
    _demo_run(otel.bus)
    with run_context("billing"):
        otel.bus.publish(RunStarted(at_unix_s=T0))
        otel.bus.publish(
            LLMCallFinished(
                at_unix_s=T0 + 1, model="claude-haiku-4-5", input_tokens=7, output_tokens=11,
                duration_s=0.05,
            )
        )  # fmt: skip
        otel.bus.publish(RunFinished(at_unix_s=T0 + 2, duration_s=2.0, ok=True))

    sums = {
        (
            str((p.attributes or {})["gen_ai.request.model"]),
            str((p.attributes or {})["gen_ai.token.type"]),
        ): p.sum
        for p in otel.points("gen_ai.client.token.usage")
    }
    assert sums == {
        (MODEL, "input"): 10_700 + 10_750,
        (MODEL, "output"): 300 + 80,
        ("claude-haiku-4-5", "input"): 7,
        ("claude-haiku-4-5", "output"): 11,
    }
    for point in otel.points("gen_ai.client.token.usage"):
        assert {k: v for k, v in (point.attributes or {}).items() if k != "gen_ai.token.type"} == {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": (point.attributes or {})["gen_ai.request.model"],
        }
        assert list(point.explicit_bounds) == [4.0**i for i in range(14)]
    durations = {
        str((p.attributes or {})["gen_ai.request.model"]): (p.count, p.sum)
        for p in otel.points("gen_ai.client.operation.duration")
    }
    assert durations[MODEL][0] == 2
    assert durations[MODEL][1] == pytest.approx(3.5, abs=1e-6)
    assert durations["claude-haiku-4-5"][0] == 1
    (point, *_) = otel.points("gen_ai.client.operation.duration")
    assert list(point.explicit_bounds) == pytest.approx([0.01 * 2**i for i in range(14)])


def test_concurrent_asyncio_runs_keep_their_own_span_trees(otel: Otel) -> None:
    tracer = otel.tracer_provider.get_tracer("user")

    async def agent(name: str, steps: int) -> str:
        with run_context(name) as run:
            otel.bus.publish(RunStarted())
            for i in range(steps):
                await asyncio.sleep(0)
                with tracer.start_as_current_span(f"step {name} {i}"):
                    await asyncio.sleep(0)
                otel.bus.publish(LLMCallFinished(model=f"model-{name}", duration_s=0.001))
                await asyncio.sleep(0)
                otel.bus.publish(ToolCallFinished(tool=f"tool-{name}", duration_s=0.001))
            otel.bus.publish(RunFinished(duration_s=0.01, ok=True))
        return run.run_id

    async def main() -> list[str]:
        return list(await asyncio.gather(agent("a", 3), agent("b", 4)))

    asyncio.run(main())

    for name, steps in (("a", 3), ("b", 4)):
        (run,) = otel.spans(f"invoke_agent {name}")
        children = [
            s
            for s in otel.spans()
            if s.parent is not None and s.parent.span_id == run.context.span_id
        ]
        assert sorted(s.name for s in children) == sorted(
            [f"step {name} {i}" for i in range(steps)]
            + [f"chat model-{name}", f"execute_tool tool-{name}"] * steps
        )
        assert len(children) == 3 * steps
        assert all(s.context.trace_id == run.context.trace_id for s in children)
    assert otel.subscriber.counts() == {}


def test_span_events_outside_a_run_are_dropped_and_counted(otel: Otel) -> None:
    otel.bus.publish(BudgetExceeded(scope="day", limit_usd=10.0, spent_usd=10.5))
    otel.bus.publish(LLMCallFinished(at_unix_s=T0 + 1, model=MODEL, duration_s=0.5))

    (chat,) = otel.spans()
    assert chat.parent is None  # outside a run: a root span
    assert otel.subscriber.counts() == {"span_events_without_run": 1}


def test_a_budget_event_in_a_run_is_a_span_event(otel: Otel) -> None:
    with run_context("support"):
        otel.bus.publish(RunStarted(at_unix_s=T0))
        otel.bus.publish(
            BudgetExceeded(at_unix_s=T0 + 1, scope="run", limit_usd=0.5, spent_usd=0.75)
        )
        otel.bus.publish(RunFinished(at_unix_s=T0 + 2, duration_s=2.0, ok=True))

    ((event,),) = (span.events for span in otel.spans())
    assert event.name == "budget.exceeded"
    assert dict(event.attributes or {}) == {"scope": "run", "limit_usd": 0.5, "spent_usd": 0.75}


def test_an_event_opentelemetry_cannot_take_is_counted_and_never_raised(
    otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="agentguard.otel"):
        for _ in range(3):
            otel.bus.publish(LLMCallFinished(model=MODEL, duration_s=math.nan))
        otel.bus.publish(ToolCallFinished(at_unix_s=math.inf, tool="t", duration_s=1.0))

    assert otel.subscriber.counts() == {"invalid_llm.call": 3, "invalid_tool.call": 1}
    assert otel.spans() == []
    logged = [r for r in caplog.records if r.name == "agentguard.otel"]
    assert len(logged) == 2  # once per episode, not once per event


def test_a_run_finished_in_another_context_still_ends_its_span(otel: Otel) -> None:
    started = contextvars.copy_context()
    with run_context("support") as run:
        pass
    ids: dict[str, Any] = {"run_id": run.run_id, "agent": run.agent, "session_id": run.session_id}
    started.run(otel.bus.publish, RunStarted(at_unix_s=T0, **ids))
    otel.bus.publish(RunFinished(at_unix_s=T0 + 1, duration_s=1.0, ok=True, **ids))

    (span,) = otel.spans("invoke_agent support")
    assert _near(span.end_time, T0_NS + 10**9)
    assert otel.subscriber.counts() == {"detach_failed": 1}


def test_unfinished_runs_are_bounded(make_otel: OtelFactory) -> None:
    otel = make_otel(max_runs=3)
    for i in range(5):
        contextvars.copy_context().run(
            otel.bus.publish, RunStarted(at_unix_s=T0 + i, run_id=f"r{i}", agent=f"a{i}")
        )

    assert sorted(span.name for span in otel.spans()) == ["invoke_agent a0", "invoke_agent a1"]
    assert otel.subscriber.counts() == {"runs_evicted": 2}
    otel.subscriber.close()
    assert len(otel.spans()) == 5


def test_attach_twice_is_one_subscription_and_close_stops_listening(otel: Otel) -> None:
    assert otel.subscriber.attach(otel.bus) is otel.subscriber.attach(otel.bus)
    otel.subscriber.close()
    otel.bus.publish(LLMCallFinished(model=MODEL, duration_s=0.5))
    assert otel.spans() == []
    assert not otel.bus.wants(LLMCallFinished)


def test_max_runs_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_runs must be at least 1"):
        OTelSubscriber(max_runs=0)


def test_the_requested_and_the_answering_model_and_what_the_api_reported(otel: Otel) -> None:
    otel.bus.publish(
        LLMCallFinished(
            at_unix_s=1_000.0,
            duration_s=1.0,
            provider="bedrock",
            model="claude-opus-4-8-20261015",
            request_model="global.anthropic.claude-opus-4-8-v1:0",
            input_tokens=100,
            output_tokens=50,
            thinking_tokens=20,
            web_search_requests=2,
            service_tier="batch",
            speed="fast",
            batch_id="msgbatch_1",
            custom_id="req-1",
            cost_usd=0.01,
            cost_complete=False,
            unpriced="service_tier=batch",
        )
    )
    (span,) = otel.spans()
    assert span.name == "chat global.anthropic.claude-opus-4-8-v1:0", "semconv: the request model"
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert attributes["gen_ai.request.model"] == "global.anthropic.claude-opus-4-8-v1:0"
    assert attributes["gen_ai.response.model"] == "claude-opus-4-8-20261015"
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 20
    assert attributes["anthropic.usage.web_search_requests"] == 2
    assert attributes["anthropic.response.service_tier"] == "batch"
    assert attributes["anthropic.response.speed"] == "fast"
    assert attributes["anthropic.message.batch.id"] == "msgbatch_1"
    assert attributes["anthropic.message.batch.custom_id"] == "req-1"
    assert attributes["agentguard.cost_unpriced"] == "service_tier=batch"
    (point,) = otel.points("gen_ai.client.operation.duration")
    assert (point.attributes or {})[
        "gen_ai.request.model"
    ] == "global.anthropic.claude-opus-4-8-v1:0"
