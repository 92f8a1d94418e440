"""The guard's message and hook layer on recorded Agent SDK streams: no CLI, every edge."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ResultMessage,
    StreamEvent,
    SystemMessage,
    TextBlock,
)

from agentguard import Bus
from agentguard.events import LLMCallFinished, RunFinished, RunStarted, ToolCallFinished
from agentguard.testing import capture_events
from agentguard_claude_agent import ClaudeAgentGuard
from agentguard_claude_agent._calls import EPISODES
from agentguard_trace.pricing import CallUsage, PriceTable

MODEL = "claude-sonnet-4-5"
SESSION = "3f1c0de4-0000-4000-8000-000000000001"


def _result(**fields: Any) -> ResultMessage:
    values: dict[str, Any] = {
        "subtype": "success",
        "duration_ms": 2000,
        "duration_api_ms": 1500,
        "is_error": False,
        "num_turns": 2,
        "session_id": SESSION,
        **fields,
    }
    return ResultMessage(**values)


def _model_usage(inputs: int, outputs: int, reads: int, writes: int, cost: float) -> Any:
    return {
        "inputTokens": inputs,
        "outputTokens": outputs,
        "cacheReadInputTokens": reads,
        "cacheCreationInputTokens": writes,
        "cacheCreationEphemeral5mInputTokens": writes,
        "cacheCreationEphemeral1hInputTokens": 0,
        "webSearchRequests": 0,
        "costUSD": cost,
    }


def _price(model: str, inputs: int, outputs: int, reads: int = 0, writes: int = 0) -> float:
    usage = CallUsage(
        input_tokens=inputs,
        output_tokens=outputs,
        cache_read_tokens=reads,
        cache_write_5m_tokens=writes,
    )
    cost = PriceTable().price(model, usage)
    assert cost is not None
    return cost.total_usd


async def _replay(
    messages: Sequence[object], error: BaseException | None = None
) -> AsyncIterator[Any]:
    for message in messages:
        yield message
    if error is not None:
        raise error


def _watch(
    guard: ClaudeAgentGuard, messages: Sequence[object], error: BaseException | None = None
) -> list[Any]:
    async def main() -> list[Any]:
        return [m async for m in guard.watch(_replay(messages, error))]

    return asyncio.run(main())


def _init() -> SystemMessage:
    return SystemMessage(subtype="init", data={"type": "system", "session_id": SESSION})


def test_without_per_request_usage_the_run_is_priced_once_per_model(bus: Bus) -> None:
    sonnet = _price(MODEL, 1000, 200, 30_000, 8000)
    haiku = _price("claude-haiku-4-5", 400, 50)
    result = _result(
        total_cost_usd=sonnet + haiku,
        model_usage={
            MODEL: _model_usage(1000, 200, 30_000, 8000, sonnet),
            "claude-haiku-4-5": _model_usage(400, 50, 0, 0, haiku),
        },
    )
    guard = ClaudeAgentGuard("coder", bus=bus)
    messages = [_init(), AssistantMessage(content=[TextBlock("hi")], model=MODEL), result]
    with capture_events(bus) as events:
        assert _watch(guard, messages) == messages
    calls = events.of(LLMCallFinished)
    assert [(c.model, c.input_tokens, c.cache_read_tokens) for c in calls] == [
        (MODEL, 1000, 30_000),
        ("claude-haiku-4-5", 400, 0),
    ]
    (finished,) = events.of(RunFinished)
    assert finished.cost_usd == pytest.approx(sonnet + haiku, rel=1e-12)
    assert finished.session_id == SESSION and guard.cost_mismatches == 0


def test_per_request_usage_is_never_counted_again_from_the_result(bus: Bus) -> None:
    start: dict[str, Any] = {
        "type": "message_start",
        "message": {"model": MODEL, "usage": {"input_tokens": 500, "output_tokens": 1}},
    }
    delta: dict[str, Any] = {
        "type": "message_delta",
        "usage": {"output_tokens": 80},
        "delta": {"stop_reason": "end_turn"},
    }
    stream = [
        StreamEvent(uuid=str(i), session_id=SESSION, event=event)
        for i, event in enumerate([start, delta, {"type": "message_stop"}])
    ]
    cost = _price(MODEL, 500, 80)
    result = _result(total_cost_usd=cost, model_usage={MODEL: _model_usage(500, 80, 0, 0, cost)})
    guard = ClaudeAgentGuard("coder", bus=bus)
    guard.options(ClaudeAgentOptions())  # turns partial messages on; watch() hides them again
    with capture_events(bus) as events:
        seen = _watch(guard, [_init(), *stream, result])
    assert not any(isinstance(m, StreamEvent) for m in seen)
    (call,) = events.of(LLMCallFinished)
    assert (call.output_tokens, call.stop_reason, call.streamed) == (80, "end_turn", True)
    assert events.of(RunFinished)[0].cost_usd == pytest.approx(cost)


def test_a_cost_the_cli_reports_differently_is_logged_and_counted(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    cost = _price(MODEL, 1000, 100)
    result = _result(
        total_cost_usd=cost * 2, model_usage={MODEL: _model_usage(1000, 100, 0, 0, cost)}
    )
    guard = ClaudeAgentGuard("coder", bus=bus)
    EPISODES.recovered("claude_agent.cost_mismatch")  # a fresh episode: its first line is logged
    caplog.clear()
    with caplog.at_level(logging.WARNING, "agentguard.claude_agent"):
        _watch(guard, [_init(), result])
    assert guard.cost_mismatches == 1
    assert "the CLI reported" in caplog.text
    assert guard.runs[-1].reported_cost_usd == pytest.approx(cost * 2)


def test_a_failed_run_and_a_broken_stream_finish_not_ok(bus: Bus) -> None:
    guard = ClaudeAgentGuard("coder", bus=bus)
    with capture_events(bus) as events:
        _watch(guard, [_init(), _result(is_error=True, api_error_status=529)])
        with pytest.raises(ConnectionError):
            _watch(guard, [_init()], ConnectionError("the CLI died"))
    first, second = events.of(RunFinished)
    assert (first.ok, first.error_kind) == (False, "overloaded")
    assert (second.ok, second.error_kind) == (False, "unknown")
    assert len(events.of(RunStarted)) == 2


def test_bad_usage_counts_as_zero_logged_once_as_the_tracer_does(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    """The run's usage goes through the tracer's one reader, ``read_usage``."""
    from agentguard_trace import usage

    usage._BAD_USAGE.recovered("agentguard.trace.usage")  # a fresh episode for this test
    caplog.clear()
    bad = {**_model_usage(1000, 200, 0, 0, 0.0), "inputTokens": -3, "outputTokens": "many"}
    guard = ClaudeAgentGuard("coder", bus=bus)
    with capture_events(bus) as events, caplog.at_level("WARNING", logger="agentguard.trace"):
        for _ in range(3):
            _watch(guard, [_init(), _result(model_usage={MODEL: bad})])
    calls = events.of(LLMCallFinished)
    assert [(c.input_tokens, c.output_tokens) for c in calls] == [(0, 0)] * 3
    lines = [r for r in caplog.records if r.name == "agentguard.trace"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "input_tokens" in lines[0].getMessage()


def test_hooks_survive_input_they_do_not_expect(bus: Bus) -> None:
    guard = ClaudeAgentGuard("coder", bus=bus)
    hooks = guard.hooks()
    pre, post = hooks["PreToolUse"][0].hooks[0], hooks["PostToolUse"][0].hooks[0]

    async def main() -> list[object]:
        weird: Any = {"tool_name": None, "session_id": 7}
        return [await pre(weird, None, {"signal": None}), await post(weird, None, {"signal": None})]

    with capture_events(bus) as events:
        assert asyncio.run(main()) == [{}, {}]
    (tool,) = events.of(ToolCallFinished)
    assert tool.tool == "unknown" and tool.ok


def test_options_keep_the_users_and_refuse_what_is_not_options(bus: Bus) -> None:
    guard = ClaudeAgentGuard("coder", bus=bus)
    mine = ClaudeAgentOptions(model=MODEL, max_turns=3)
    merged = guard.options(mine)
    assert merged.model == MODEL and merged.max_turns == 3 and merged.include_partial_messages
    assert mine.hooks is None and not mine.include_partial_messages  # the user's are untouched
    assert merged.hooks is not None
    assert set(merged.hooks) == {"PreToolUse", "PostToolUse", "PostToolUseFailure"}
    with pytest.raises(TypeError, match="ClaudeAgentOptions"):
        guard.options({"model": MODEL})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"agent": ""}, ValueError),
        ({"agent": "a", "max_cost_usd": -1.0}, ValueError),
        ({"agent": "a", "max_cost_usd": "1"}, TypeError),
        ({"agent": "a", "loop_guard": object()}, TypeError),
        ({"agent": "a", "bus": object()}, TypeError),
    ],
)
def test_bad_arguments_fail_at_once(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        ClaudeAgentGuard(**kwargs)


def test_interleaved_sub_agent_requests_are_each_counted_once(bus: Bus) -> None:
    def start(inputs: int) -> dict[str, Any]:
        return {
            "type": "message_start",
            "message": {"model": MODEL, "usage": {"input_tokens": inputs}},
        }

    def delta(outputs: int) -> dict[str, Any]:
        return {"type": "message_delta", "usage": {"output_tokens": outputs}, "delta": {}}

    stop: dict[str, Any] = {"type": "message_stop"}
    order = [
        ("toolu_a", start(100)),
        ("toolu_b", start(200)),
        ("toolu_a", delta(10)),
        ("toolu_b", delta(20)),
        ("toolu_b", stop),
        ("toolu_a", stop),
    ]
    stream = [
        StreamEvent(uuid=str(i), session_id=SESSION, event=event, parent_tool_use_id=parent)
        for i, (parent, event) in enumerate(order)
    ]
    guard = ClaudeAgentGuard("coder", bus=bus)
    with capture_events(bus) as events:
        _watch(guard, [_init(), *stream, _result()])
    calls = events.of(LLMCallFinished)
    assert sorted((c.input_tokens, c.output_tokens) for c in calls) == [(100, 10), (200, 20)]
