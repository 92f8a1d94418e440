"""The Claude Agent SDK guard: hook overhead per tool call and per run (issue 17).

Per tool call: our ``PreToolUse`` and ``PostToolUse`` hooks as the SDK awaits them (a tool
use admitted by the loop guard, then settled and published), against the same two awaits of
no-op hooks. Per run: :meth:`ClaudeAgentGuard.watch` over a recorded three-request run (the
stream events that carry usage, and the ``ResultMessage``), against iterating the same
messages plainly. For scale: one tool call of the real bundled CLI against the fake API
took 30 to 60 ms in the end-to-end tests (tests/claude_agent/test_agent_sdk_e2e.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from claude_agent_sdk import ResultMessage, StreamEvent, SystemMessage

from agentguard import Bus
from agentguard_claude_agent import ClaudeAgentGuard
from agentguard_loopguard import LoopGuard
from bench._harness import Report

COMMAND = "nox -s bench -- claude_agent   (or: python -m bench claude_agent)"

Hook = Callable[[Any, str | None, Any], Awaitable[Any]]


def _recorded_run(session_id: str) -> list[object]:
    messages: list[object] = [
        SystemMessage(subtype="init", data={"type": "system", "session_id": session_id})
    ]
    for turn in range(3):
        start = {
            "type": "message_start",
            "message": {
                "model": "claude-sonnet-4-5",
                "usage": {"input_tokens": 900, "cache_read_input_tokens": 14_000 * turn},
            },
        }
        delta = {"type": "message_delta", "usage": {"output_tokens": 120}, "delta": {}}
        messages.extend(
            StreamEvent(uuid="u", session_id=session_id, event=event)
            for event in (start, delta, {"type": "message_stop"})
        )
    messages.append(
        ResultMessage(
            subtype="success",
            duration_ms=1000,
            duration_api_ms=900,
            is_error=False,
            num_turns=3,
            session_id=session_id,
            total_cost_usd=None,
        )
    )
    return messages


async def _replay(messages: list[object]) -> AsyncIterator[object]:
    for message in messages:
        yield message


def _per_tool_call(pre: Hook, post: Hook, rounds: int) -> float:
    async def main() -> float:
        context = {"signal": None}
        began = time.perf_counter()
        for i in range(rounds):
            tool_use_id = f"toolu_{i}"
            pre_input = {
                "session_id": "s1",
                "hook_event_name": "PreToolUse",
                "tool_name": "Read",
                "tool_input": {"file_path": f"/src/module_{i}.py"},
                "tool_use_id": tool_use_id,
            }
            await pre(pre_input, tool_use_id, context)
            post_input = {**pre_input, "hook_event_name": "PostToolUse", "tool_response": "ok"}
            await post(post_input, tool_use_id, context)
        return (time.perf_counter() - began) / rounds * 1e9

    return min(asyncio.run(main()) for _ in range(5))


def _per_run(guard: ClaudeAgentGuard | None, messages: list[object], rounds: int) -> float:
    async def main() -> float:
        began = time.perf_counter()
        for _ in range(rounds):
            source = _replay(messages)
            stream = source if guard is None else guard.watch(source)
            async for _message in stream:
                pass
        return (time.perf_counter() - began) / rounds * 1e9

    return min(asyncio.run(main()) for _ in range(5))


def run() -> Report:
    """Measure and return the report."""
    report = Report("claude-agent: hook overhead per tool call and per run (issue 17)", COMMAND)
    bus = Bus(name="bench")
    guard = ClaudeAgentGuard("bench", bus=bus, loop_guard=LoopGuard(bus=bus), max_cost_usd=1e9)
    hooks = guard.hooks()
    pre, post = hooks["PreToolUse"][0].hooks[0], hooks["PostToolUse"][0].hooks[0]

    async def noop(hook_input: Any, tool_use_id: str | None, context: Any) -> dict[str, Any]:
        return {}

    guarded = _per_tool_call(pre, post, 20_000)
    bare = _per_tool_call(noop, noop, 20_000)
    unguarded = ClaudeAgentGuard("bench", bus=bus).hooks()
    report.measured(
        "per tool call: the hooks, no loop guard",
        _per_tool_call(
            unguarded["PreToolUse"][0].hooks[0], unguarded["PostToolUse"][0].hooks[0], 20_000
        ),
    )
    report.measured("per tool call: PreToolUse + PostToolUse, loop guard on", guarded)
    report.measured("    reference: the same two awaits of no-op hooks", bare)
    report.measured("    added by agentguard per tool call", guarded - bare)

    messages = _recorded_run("s-bench")
    watched = _per_run(guard, messages, 2_000)
    plain = _per_run(None, messages, 2_000)
    report.measured("per run: watch() over 3 requests (11 messages), priced", watched)
    report.measured("    reference: iterating the same messages plainly", plain)
    report.measured("    added by agentguard per run", watched - plain)
    return report
