"""The tracer, the prompt-cache tracker and the session summary on one bus, end to end:
the real anthropic SDK against the fake Messages API, whose cache emulation warms up."""

from __future__ import annotations

import math
from collections.abc import Iterator

import anthropic
import pytest

from agentguard import Bus
from agentguard.events import LLMCallFinished, PromptCacheUsage, RunFinished, ToolCallFinished
from agentguard.testing import capture_events
from agentguard_cache import PromptCacheTracker
from agentguard_fake import FakeAnthropicServer
from agentguard_trace import SessionRecorder, instrument, tool, traced

MODEL = "claude-sonnet-4-6"
POLICY = "Orders ship within two days; refunds take five to seven business days. " * 80


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(seed=11) as fake:
        yield fake


def test_one_session_adds_up_across_tracer_cache_tracker_and_summary(
    server: FakeAnthropicServer,
) -> None:
    bus = Bus()
    tracker = PromptCacheTracker()
    tracker.attach(bus)
    recorder = SessionRecorder()
    recorder.attach(bus)

    @tool(bus=bus)
    def lookup(order: int) -> str:
        return f"order {order} shipped"

    with (
        capture_events(bus) as events,
        instrument(anthropic.Anthropic(base_url=server.url, api_key="k"), bus=bus) as client,
    ):

        @traced(agent="support", bus=bus)
        def answer(order: int) -> None:
            lookup(order)
            client.messages.create(
                model=MODEL,
                max_tokens=128,
                system=[{"type": "text", "text": POLICY, "cache_control": {"type": "ephemeral"}}],
                messages=[{"role": "user", "content": f"Where is order {order}?"}],
            )

        for order in range(4):
            answer(order)

    calls = events.of(LLMCallFinished)
    usages = events.of(PromptCacheUsage)
    assert len(calls) == len(usages) == 4
    assert usages[0].hit_ratio == 0.0
    assert usages[0].write_tokens > 1024, "the first call writes the policy to the cache"
    assert all(u.hit_ratio > 0.99 for u in usages[1:]), "later calls read it back"
    assert all(u.read_tokens == usages[0].write_tokens for u in usages[1:])
    for call, usage in zip(calls, usages, strict=True):
        assert usage.run_id == call.run_id
        assert call.cost_usd is not None
        assert call.cost_without_cache_usd is not None
        assert usage.saved_usd == pytest.approx(call.cost_without_cache_usd - call.cost_usd)

    runs = events.of(RunFinished)
    assert [r.cost_usd for r in runs] == pytest.approx([c.cost_usd for c in calls])
    assert len(events.of(ToolCallFinished)) == 4

    summary = recorder.summary()
    assert summary.runs.total == 4
    assert summary.llm_calls == 4
    assert summary.tool_calls == 4
    total = math.fsum(c.cost_usd for c in calls if c.cost_usd is not None)
    assert summary.cost.total_usd == pytest.approx(total, abs=1e-12)
    assert summary.tokens.cache_read_tokens == sum(c.cache_read_tokens for c in calls)

    stats = tracker.stats(model=MODEL, agent="support")
    assert stats.calls == 4
    assert stats.saved_usd == pytest.approx(sum(u.saved_usd or 0.0 for u in usages))
    tracker.close()
    recorder.close()
