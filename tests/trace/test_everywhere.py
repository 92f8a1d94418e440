"""instrument_all(): every anthropic client of the process, including those nobody hands us."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import anthropic
import pytest
from genai_prices import Usage, calc_price

from agentguard import Bus
from agentguard.events import LLMCallFinished
from agentguard.testing import capture_events
from agentguard_fake import Fail, FakeAnthropicServer, Reply, ToolUse
from agentguard_trace import instrument, instrument_all, uninstrument_all

MODEL = "claude-opus-4-8"
MESSAGES: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Hi"}]
SCRIPTED = Reply(model=MODEL, input_tokens=1_000, output_tokens=200, cache_read_input_tokens=500)


def price(input_tokens: int, output_tokens: int, cache_read_tokens: int = 0) -> float:
    usage = Usage(
        input_tokens=input_tokens + cache_read_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read_tokens,
    )
    return float(calc_price(usage, MODEL, provider_id="anthropic").total_price)


@pytest.fixture
def everywhere(bus: Bus) -> Iterator[Bus]:
    instrument_all(bus=bus)
    try:
        yield bus
    finally:
        uninstrument_all()


def ask(client: anthropic.Anthropic) -> None:
    client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)


def test_clients_made_before_and_after_the_switch_are_measured(
    fake: FakeAnthropicServer, bus: Bus
) -> None:
    fake.enqueue(*[SCRIPTED] * 4)
    before = anthropic.Anthropic(base_url=fake.url, api_key="k")
    with capture_events(bus) as events, before:
        instrument_all(bus=bus)
        try:
            after = anthropic.Anthropic(base_url=fake.url, api_key="k")
            with after:
                ask(before)
                ask(after)
                ask(after.with_options(max_retries=0))
        finally:
            uninstrument_all()
        ask(before)  # switched off: not measured
    calls = events.of(LLMCallFinished)
    assert len(calls) == 3
    for event in calls:
        assert (event.input_tokens, event.output_tokens, event.cache_read_tokens) == (
            1_000,
            200,
            500,
        )
        assert event.cost_usd == pytest.approx(price(1_000, 200, 500), rel=1e-12)
    assert type(before) is anthropic.Anthropic, "the switch changes no client's class"


def test_a_client_also_instrumented_is_measured_once(fake: FakeAnthropicServer, bus: Bus) -> None:
    own = Bus()
    fake.enqueue(Fail(status=529, retry_after_s=0.01), *[SCRIPTED] * 3)
    early = instrument(anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=1), bus=own)
    with capture_events(bus) as everywhere_events, capture_events(own) as own_events:
        instrument_all(bus=bus)
        try:
            late = instrument(anthropic.Anthropic(base_url=fake.url, api_key="k"), bus=own)
            plain = anthropic.Anthropic(base_url=fake.url, api_key="k")
            with early, late, plain:
                ask(early)
                ask(late)
                ask(plain)
        finally:
            uninstrument_all()
    assert [e.retries for e in own_events.of(LLMCallFinished)] == [1, 0], (
        "each instrumented client once, on its own bus, the retry counted once"
    )
    assert len(everywhere_events.of(LLMCallFinished)) == 1, "only the plain client"


def test_instrument_all_twice_is_a_no_op_and_uninstrument_all_twice_is_harmless(
    fake: FakeAnthropicServer, bus: Bus
) -> None:
    other = Bus()
    fake.enqueue(SCRIPTED)
    with capture_events(bus) as events, capture_events(other) as others:
        instrument_all(bus=bus)
        instrument_all(bus=other)
        try:
            with anthropic.Anthropic(base_url=fake.url, api_key="k") as client:
                ask(client)
        finally:
            uninstrument_all()
            uninstrument_all()
    assert len(events.of(LLMCallFinished)) == 1
    assert others.of(LLMCallFinished) == []
    assert anthropic.Anthropic.request is anthropic._base_client.SyncAPIClient.request
    assert "request" not in vars(anthropic.Anthropic), "the SDK's classes are as they were"


def test_async_clients_and_retries(fake: FakeAnthropicServer, everywhere: Bus) -> None:
    fake.enqueue(Fail(status=529, retry_after_s=0.01), SCRIPTED)

    async def main() -> None:
        client = anthropic.AsyncAnthropic(base_url=fake.url, api_key="k")
        async with (
            client,
            client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream,
        ):
            await stream.get_final_message()

    with capture_events(everywhere) as events:
        asyncio.run(main())
    (event,) = events.of(LLMCallFinished)
    assert (event.retries, event.streamed, event.ok) == (1, True, True)


@pytest.mark.skipif(
    tuple(int(part) for part in anthropic.__version__.split(".")[:2]) < (1, 15),
    reason="pydantic-ai needs anthropic 1.15 or newer (the oldest session runs 1.0)",
)
def test_pydantic_ai_with_its_own_client(fake: FakeAnthropicServer, everywhere: Bus) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    fake.enqueue(
        Reply(
            model=MODEL,
            tool_use=ToolUse(name="order_status", input={"order_id": "42"}),
            input_tokens=800,
            output_tokens=40,
        ),
        Reply(model=MODEL, text="Order 42 shipped.", input_tokens=900, output_tokens=25),
    )
    # pydantic-ai makes its AsyncAnthropic inside; nothing of ours is passed to it.
    provider = AnthropicProvider(base_url=fake.url, api_key="k")
    agent = Agent(AnthropicModel(MODEL, provider=provider))

    @agent.tool_plain
    def order_status(order_id: str) -> str:
        """The status of an order."""
        return f"order {order_id} shipped"

    async def main() -> str:
        try:
            return (await agent.run("Where is order 42?")).output
        finally:
            await provider.client.close()

    with capture_events(everywhere) as events:
        output = asyncio.run(main())
    assert "shipped" in output
    calls = events.of(LLMCallFinished)
    assert len(calls) == len(fake.requests) == 2
    assert [(c.input_tokens, c.output_tokens) for c in calls] == [(800, 40), (900, 25)]
    for event, (i, o) in zip(calls, [(800, 40), (900, 25)], strict=True):
        assert event.cost_usd == pytest.approx(price(i, o), rel=1e-12)
        assert event.model == MODEL
