"""Message Batches results read through an instrumented client: one event per request, once."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from genai_prices import Usage, calc_price

from agentguard import Bus
from agentguard.events import LLMCallFinished
from agentguard.testing import capture_events
from agentguard_fake import Batch, Fail, FakeAnthropicServer, Reply
from agentguard_trace import _batches, instrument

MODEL = "claude-opus-4-8"
SCRIPTED = Reply(model=MODEL, input_tokens=2_000, output_tokens=400, cache_read_input_tokens=1_000)
REQUESTS: list[Any] = [
    {
        "custom_id": f"req-{i}",
        "params": {
            "model": MODEL,
            "max_tokens": 128,
            "messages": [{"role": "user", "content": f"Question {i}"}],
        },
    }
    for i in range(4)
]
OUTCOMES = Batch(
    outcomes={
        "req-0": SCRIPTED,
        "req-1": SCRIPTED,
        "req-2": Fail(status=400, message="max_tokens: too large"),
        "req-3": "expired",
    }
)


@pytest.fixture(autouse=True)
def _forget_batches() -> None:
    """The fake numbers batches from its seed, so each test's batch ids repeat: forget them."""
    _batches._seen.clear()


def batch_price() -> float:
    usage = Usage(input_tokens=3_000, output_tokens=400, cache_read_tokens=1_000)
    context = {"processing": "batch"}
    return float(
        calc_price(usage, MODEL, provider_id="anthropic", price_context=context).total_price
    )


def assert_results(calls: list[LLMCallFinished], batch_id: str) -> None:
    assert sorted(c.custom_id or "" for c in calls) == ["req-0", "req-1", "req-2", "req-3"]
    by_id = {c.custom_id: c for c in calls}
    for ok in ("req-0", "req-1"):
        event = by_id[ok]
        assert event.ok and event.batch_id == batch_id
        assert event.service_tier == "batch"
        assert (event.input_tokens, event.output_tokens) == (2_000, 400)
        assert event.cost_usd == pytest.approx(batch_price(), rel=1e-12)
        assert event.cost_complete
    errored, expired = by_id["req-2"], by_id["req-3"]
    assert (errored.ok, errored.error_kind, errored.cost_usd) == (False, "invalid_request", 0.0)
    assert (expired.ok, expired.error_kind, expired.cost_usd) == (False, "timeout", 0.0)


@pytest.mark.parametrize("where", ["messages", "beta"])
def test_results_are_one_event_per_request_priced_at_batch_rates_and_counted_once(
    fake: FakeAnthropicServer, bus: Bus, where: str
) -> None:
    fake.enqueue(OUTCOMES)
    client = instrument(anthropic.Anthropic(base_url=fake.url, api_key="k"), bus=bus)
    batches = client.beta.messages.batches if where == "beta" else client.messages.batches
    with capture_events(bus) as events, client:
        batch = batches.create(requests=REQUESTS)
        assert events.of(LLMCallFinished) == [], "creating a batch bills nothing yet"
        assert batches.retrieve(batch.id).processing_status == "ended"
        first = list(batches.results(batch.id))
        again = list(batches.results(batch.id))
    assert len(first) == len(again) == 4
    calls = events.of(LLMCallFinished)
    assert len(calls) == 4, "reading the results again counts nothing twice"
    assert_results(calls, batch.id)


def test_async_results(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(OUTCOMES)

    async def main() -> str:
        async with instrument(
            anthropic.AsyncAnthropic(base_url=fake.url, api_key="k"), bus=bus
        ) as client:
            batch = await client.messages.batches.create(requests=REQUESTS)
            async for _ in await client.messages.batches.results(batch.id):
                pass
            return batch.id

    with capture_events(bus) as events:
        batch_id = asyncio.run(main())
    assert_results(events.of(LLMCallFinished), batch_id)


def test_results_read_halfway_then_again_count_each_request_once(
    fake: FakeAnthropicServer, bus: Bus
) -> None:
    fake.enqueue(OUTCOMES)
    client = instrument(anthropic.Anthropic(base_url=fake.url, api_key="k"), bus=bus)
    with capture_events(bus) as events, client:
        batch = client.messages.batches.create(requests=REQUESTS)
        results = client.messages.batches.results(batch.id)
        next(iter(results))
        results.close()
        assert 1 <= len(events.of(LLMCallFinished)) <= 4
        list(client.messages.batches.results(batch.id))
    assert_results(events.of(LLMCallFinished), batch.id)
