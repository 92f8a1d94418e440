"""The agent loop bundled in claude-agent-sdk, run for real against the fake Messages API."""

from __future__ import annotations

import math
from pathlib import Path

import anyio
import pytest
from claude_agent_sdk import (
    ClaudeAgentOptions,
    HookContext,
    HookInput,
    HookJSONOutput,
    HookMatcher,
    Message,
    ResultMessage,
    StreamEvent,
    query,
)

from agentguard import Bus
from agentguard.events import (
    BudgetExceeded,
    LLMCallFinished,
    LoopDetected,
    RunFinished,
    RunStarted,
    ToolCallFinished,
)
from agentguard.testing import capture_events
from agentguard_claude_agent import ClaudeAgentGuard
from agentguard_fake import FakeAnthropicServer, Reply, ToolUse
from agentguard_loopguard import LoopGuard
from agentguard_trace.pricing import CallUsage, PriceTable

pytestmark = pytest.mark.slow

MODEL = "claude-sonnet-4-5"
PRICES = PriceTable()
_RUN_TIMEOUT_S = 90


def _bash(command: str, **usage: int) -> Reply:
    return Reply(
        tool_use=ToolUse(name="Bash", input={"command": command, "description": command}),
        **usage,  # type: ignore[arg-type]  # the token counts of Reply
    )


def _options(guard: ClaudeAgentGuard, env: dict[str, str], cwd: Path) -> ClaudeAgentOptions:
    return guard.options(
        ClaudeAgentOptions(
            env=env,
            cwd=str(cwd),
            model=MODEL,
            max_turns=12,
            setting_sources=[],
            allowed_tools=["Bash"],
        )
    )


def _run(guard: ClaudeAgentGuard, options: ClaudeAgentOptions) -> list[Message]:
    async def main() -> list[Message]:
        with anyio.fail_after(_RUN_TIMEOUT_S):
            return [m async for m in guard.watch(query(prompt="do the task", options=options))]

    return anyio.run(main)


def _cost(reply: Reply) -> float:
    usage = CallUsage(
        input_tokens=reply.input_tokens or 0,
        output_tokens=reply.output_tokens or 0,
        cache_read_tokens=reply.cache_read_input_tokens or 0,
        cache_write_5m_tokens=reply.cache_write_5m_tokens or 0,
    )
    cost = PRICES.price(MODEL, usage)
    assert cost is not None
    return cost.total_usd


def test_a_run_publishes_its_requests_tools_and_cost(
    fake: FakeAnthropicServer, bus: Bus, cli_env: dict[str, str], tmp_path: Path
) -> None:
    script = [
        _bash("echo hello", input_tokens=9000, output_tokens=40, cache_write_5m_tokens=5000),
        _bash("false", input_tokens=200, output_tokens=30, cache_read_input_tokens=14000),
        Reply(text="All done.", input_tokens=300, output_tokens=12, cache_read_input_tokens=14200),
    ]
    fake.enqueue(*script)
    guard = ClaudeAgentGuard("coder", bus=bus, loop_guard=LoopGuard(bus=bus))
    with capture_events(bus) as events:
        messages = _run(guard, _options(guard, cli_env, tmp_path))

    result = messages[-1]
    assert isinstance(result, ResultMessage) and not result.is_error
    assert not any(isinstance(m, StreamEvent) for m in messages)  # not asked for: hidden
    started, finished = events.of(RunStarted), events.of(RunFinished)
    assert len(started) == len(finished) == 1
    assert started[0].agent == finished[0].agent == "coder"
    assert started[0].session_id == finished[0].session_id == result.session_id
    assert finished[0].ok and finished[0].run_id == started[0].run_id

    calls = events.of(LLMCallFinished)
    assert len(calls) == len(fake.requests) == 3
    assert [(c.input_tokens, c.output_tokens) for c in calls] == [(9000, 40), (200, 30), (300, 12)]
    assert [c.cache_write_5m_tokens for c in calls] == [5000, 0, 0]
    assert [c.cache_read_tokens for c in calls] == [0, 14000, 14200]
    assert all(c.streamed and c.model == MODEL and c.run_id == started[0].run_id for c in calls)
    expected = [_cost(reply) for reply in script]
    assert [c.cost_usd for c in calls] == pytest.approx(expected, rel=1e-12)
    # The run's cost is the sum of its priced requests, and the CLI agrees.
    assert finished[0].cost_usd == pytest.approx(math.fsum(expected), rel=1e-12)
    assert result.total_cost_usd == pytest.approx(finished[0].cost_usd, rel=1e-6)
    assert guard.cost_mismatches == 0

    tools = events.of(ToolCallFinished)
    assert [(t.tool, t.ok, t.error_kind) for t in tools] == [
        ("Bash", True, None),
        ("Bash", False, "tool_error"),
    ]
    assert all(t.duration_s > 0 and t.session_id == result.session_id for t in tools)


def test_the_loop_guard_denies_a_repeated_tool_call(
    fake: FakeAnthropicServer, bus: Bus, cli_env: dict[str, str], tmp_path: Path
) -> None:
    fake.enqueue(*[_bash("echo again") for _ in range(6)], Reply(text="I stop."))
    guard = ClaudeAgentGuard("coder", bus=bus, loop_guard=LoopGuard(bus=bus))
    with capture_events(bus) as events:
        messages = _run(guard, _options(guard, cli_env, tmp_path))

    assert isinstance(messages[-1], ResultMessage)
    loops = events.of(LoopDetected)
    assert [(d.tool, d.pattern, d.action) for d in loops] == [
        ("Bash", "repeat", "warn"),
        ("Bash", "repeat", "stop"),
        ("Bash", "repeat", "stop"),
    ]
    # Four calls ran; the 5th and 6th were denied before running.
    assert len(events.of(ToolCallFinished)) == 4
    assert guard.runs[-1].denied == 2
    # The model read why: the denial is the tool result of the next request.
    last_turn = fake.requests[-1].body["messages"][-1]  # type: ignore[index]
    result_block = last_turn["content"][0]
    assert result_block["is_error"] is True
    assert "agentguard: Bash was refused" in result_block["content"]
    assert events.of(RunFinished)[0].ok


def test_a_spent_budget_denies_further_tool_calls(
    fake: FakeAnthropicServer, bus: Bus, cli_env: dict[str, str], tmp_path: Path
) -> None:
    script = [
        _bash("echo one", input_tokens=10_000, output_tokens=100),  # $0.0315
        _bash("echo two", input_tokens=10_000, output_tokens=100),  # crosses $0.05
        _bash("echo three", input_tokens=100, output_tokens=10),
        Reply(text="Stopping.", input_tokens=100, output_tokens=10),
    ]
    fake.enqueue(*script)
    guard = ClaudeAgentGuard("coder", bus=bus, max_cost_usd=0.05)
    with capture_events(bus) as events:
        _run(guard, _options(guard, cli_env, tmp_path))

    exceeded = events.of(BudgetExceeded)
    assert len(exceeded) == 1
    assert exceeded[0].scope == "run" and exceeded[0].limit_usd == 0.05
    # Crossed by the second request's input, known when its stream starts, before the
    # CLI runs the tool that request asks for.
    assert 0.05 < exceeded[0].spent_usd <= _cost(script[0]) + _cost(script[1])
    # So only the first tool ran.
    assert [t.tool for t in events.of(ToolCallFinished)] == ["Bash"]
    blocks = [
        block
        for request in fake.requests
        for message in request.body["messages"]  # type: ignore[index]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]
    assert any("budget of $0.05 is spent" in str(block["content"]) for block in blocks)
    assert events.of(RunFinished)[0].cost_usd == pytest.approx(
        math.fsum(_cost(reply) for reply in script)
    )


def test_the_users_own_hooks_still_run(
    fake: FakeAnthropicServer, bus: Bus, cli_env: dict[str, str], tmp_path: Path
) -> None:
    seen: list[str] = []

    async def mine(
        hook_input: HookInput, tool_use_id: str | None, context: HookContext
    ) -> HookJSONOutput:
        seen.append(str(hook_input.get("tool_name")))
        return {}

    fake.enqueue(_bash("echo mine"), Reply(text="ok"))
    guard = ClaudeAgentGuard("coder", bus=bus)
    options = guard.options(
        ClaudeAgentOptions(
            env=cli_env,
            cwd=str(tmp_path),
            model=MODEL,
            setting_sources=[],
            allowed_tools=["Bash"],
            include_partial_messages=True,
            hooks={"PreToolUse": [HookMatcher(matcher="Bash", hooks=[mine])]},
        )
    )
    with capture_events(bus) as events:
        messages = _run(guard, options)
    assert seen == ["Bash"]
    assert len(events.of(ToolCallFinished)) == 1
    assert any(isinstance(m, StreamEvent) for m in messages)  # asked for: passed on
