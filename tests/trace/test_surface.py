"""Every client class x every call style of the SDK: one event per request, priced exactly.

The real SDK talks HTTP to the fake Messages API in each platform's URL shape (first-party,
Bedrock's ``/model/{id}/invoke`` with AWS event streams, Vertex's ``:rawPredict``, Foundry).
The expected cost is genai-prices' own ``calc_price`` for the model and the platform, an
oracle computed apart from the tracer's cached rates.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import pytest
from genai_prices import Usage, calc_price

from agentguard import Bus
from agentguard.events import LLMCallFinished
from agentguard.limits import invalid_field
from agentguard.testing import capture_events
from agentguard_fake import Fail, FakeAnthropicServer, Reply
from agentguard_trace import instrument

MESSAGES: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Where is my order?"}]
ANSWERED = "claude-opus-4-8-20261015"  # asked for the alias, answered by a dated name
USAGE = {
    "input_tokens": 1_200,
    "output_tokens": 300,
    "cache_read_input_tokens": 9_000,
    "cache_write_5m_tokens": 400,
    "cache_write_1h_tokens": 100,
}


REPORTED = {"input_tokens": 2_000, "output_tokens": 500, "cache_read_input_tokens": 1_000}


def reply(usage: dict[str, int] = USAGE, **extra: Any) -> Reply:
    """A scripted answer from ``ANSWERED`` with ``usage`` and any other ``Reply`` fields."""
    values: dict[str, Any] = {"model": ANSWERED, **usage, **extra}
    return Reply(**values)


@dataclass(frozen=True)
class Platform:
    name: str
    """The class name in the SDK, without ``Async``."""
    provider: str
    """``LLMCallFinished.provider``."""
    genai_provider: str
    """The genai-prices provider id the oracle prices with."""
    requested: str
    """The model the request names, in the platform's own spelling."""
    options: dict[str, Any]


PLATFORMS = [
    Platform("Anthropic", "anthropic", "anthropic", "claude-opus-4-8", {"api_key": "k"}),
    Platform(
        "AnthropicBedrock",
        "bedrock",
        "aws",
        "global.anthropic.claude-opus-4-8-v1:0",
        {"aws_access_key": "AKIDEXAMPLE", "aws_secret_key": "secret", "aws_region": "us-east-1"},
    ),
    Platform(
        "AnthropicVertex",
        "vertex",
        "google",
        "claude-opus-4-8@20261015",
        {"region": "us-east5", "project_id": "proj", "access_token": "token"},
    ),
    Platform("AnthropicFoundry", "foundry", "anthropic", "claude-opus-4-8", {"api_key": "k"}),
]
PLATFORMS = [p for p in PLATFORMS if hasattr(anthropic, p.name)]
if importlib.util.find_spec("botocore") is None:  # the oldest SDK's environment may lack it
    PLATFORMS = [p for p in PLATFORMS if p.provider != "bedrock"]


def expected_cost(platform: Platform, **extra: int) -> float:
    """genai-prices' own price of the scripted usage (Anthropic's input is the uncached part)."""
    writes = USAGE["cache_write_5m_tokens"] + USAGE["cache_write_1h_tokens"]
    usage = Usage(
        input_tokens=USAGE["input_tokens"] + USAGE["cache_read_input_tokens"] + writes,
        output_tokens=USAGE["output_tokens"],
        cache_read_tokens=USAGE["cache_read_input_tokens"],
        cache_write_tokens=writes,
        cache_write_5m_tokens=USAGE["cache_write_5m_tokens"],
        cache_write_1h_tokens=USAGE["cache_write_1h_tokens"],
        **extra,
    )
    ref = platform.requested if platform.provider == "bedrock" else ANSWERED
    return float(calc_price(usage, ref, provider_id=platform.genai_provider).total_price)


def client_of(platform: Platform, fake: FakeAnthropicServer, *, sync: bool, **options: Any) -> Any:
    name = platform.name if sync else "Async" + platform.name
    options = {"max_retries": 0, **platform.options, **options}
    return getattr(anthropic, name)(base_url=fake.url, **options)


@pytest.fixture
def scripted(fake: FakeAnthropicServer) -> FakeAnthropicServer:
    fake.enqueue(*[reply(text="On its way.")] * 4)
    return fake


def derive(client: Any, how: str) -> Any:
    if how == "with_options":
        return client.with_options(max_retries=0, timeout=30.0)
    if how == "copy":
        return client.copy()
    return client


def resource(client: Any, where: str) -> Any:
    return client.beta.messages if where == "beta" else client.messages


def call_sync(messages: Any, style: str, model: str) -> None:
    kwargs: dict[str, Any] = {"model": model, "max_tokens": 256, "messages": MESSAGES}
    if style == "create":
        messages.create(**kwargs)
    elif style == "create_stream":
        for _ in messages.create(stream=True, **kwargs):
            pass
    else:
        with messages.stream(**kwargs) as stream:
            stream.get_final_message()


async def call_async(messages: Any, style: str, model: str) -> None:
    kwargs: dict[str, Any] = {"model": model, "max_tokens": 256, "messages": MESSAGES}
    if style == "create":
        await messages.create(**kwargs)
    elif style == "create_stream":
        async for _ in await messages.create(stream=True, **kwargs):
            pass
    else:
        async with messages.stream(**kwargs) as stream:
            await stream.get_final_message()


def only_call(events: Any) -> LLMCallFinished:
    calls: list[LLMCallFinished] = events.of(LLMCallFinished)
    assert len(calls) == 1, calls
    return calls[0]


def assert_priced(event: LLMCallFinished, platform: Platform, *, streamed: bool) -> None:
    assert event.provider == platform.provider
    assert event.model == ANSWERED, "the model that answered, named as Anthropic names it"
    assert event.request_model == platform.requested
    assert (event.input_tokens, event.output_tokens) == (1_200, 300)
    assert event.cache_read_tokens == 9_000
    assert (event.cache_write_5m_tokens, event.cache_write_1h_tokens) == (400, 100)
    assert event.cost_usd == pytest.approx(expected_cost(platform), rel=1e-12)
    assert event.cost_complete and event.unpriced is None
    assert event.streamed is streamed
    assert event.ok and event.retries == 0


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: p.name)
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
@pytest.mark.parametrize("style", ["create", "create_stream", "stream"])
@pytest.mark.parametrize("where", ["messages", "beta"])
@pytest.mark.parametrize("how", ["original", "with_options", "copy"])
def test_every_client_and_call_style_is_one_exact_event(
    scripted: FakeAnthropicServer,
    bus: Bus,
    platform: Platform,
    sync: bool,
    style: str,
    where: str,
    how: str,
) -> None:
    with capture_events(bus) as events:
        if sync:
            client = instrument(client_of(platform, scripted, sync=True), bus=bus)
            derived = derive(client, how)
            with client, derived:  # a copy may hold an HTTP client of its own (anthropic 1.0)
                call_sync(resource(derived, where), style, platform.requested)
        else:

            async def main() -> None:
                client = instrument(client_of(platform, scripted, sync=False), bus=bus)
                derived = derive(client, how)
                async with client, derived:
                    await call_async(resource(derived, where), style, platform.requested)

            asyncio.run(main())
    assert len(scripted.requests) == 1
    assert_priced(only_call(events), platform, streamed=style != "create")


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: p.name)
@pytest.mark.parametrize("where", ["messages", "beta"])
@pytest.mark.parametrize("style", ["create", "create_stream", "stream"])
def test_a_529_then_success_is_one_event_with_one_retry(
    fake: FakeAnthropicServer, bus: Bus, platform: Platform, where: str, style: str
) -> None:
    fake.enqueue(Fail(status=529, retry_after_s=0.01), reply())
    client = instrument(client_of(platform, fake, sync=True, max_retries=2), bus=bus)
    # A copy may hold an HTTP client of its own (Bedrock on anthropic 1.0): close it too.
    with capture_events(bus) as events, client, client.with_options(timeout=20.0) as derived:
        call_sync(resource(derived, where), style, platform.requested)
    event = only_call(events)
    assert event.retries == 1
    assert event.ok
    assert len(fake.requests) == 2


@pytest.mark.parametrize("where", ["messages", "beta"])
def test_a_beta_stream_abandoned_midway_is_still_one_event(
    fake: FakeAnthropicServer, bus: Bus, where: str
) -> None:
    fake.enqueue(reply(text="word " * 200))
    client = instrument(client_of(PLATFORMS[0], fake, sync=True), bus=bus)
    with capture_events(bus) as events, client:
        stream = resource(client, where).create(
            model="claude-opus-4-8", max_tokens=256, messages=MESSAGES, stream=True
        )
        next(iter(stream))
        stream.close()
    event = only_call(events)
    assert not event.ok
    assert event.error_kind == "cancelled"
    assert event.input_tokens == 1_200, "usage known from message_start is kept"


def test_raw_and_streaming_responses_are_measured(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(*[reply()] * 3)
    client = instrument(client_of(PLATFORMS[0], fake, sync=True), bus=bus)
    kwargs: dict[str, Any] = {"model": "claude-opus-4-8", "max_tokens": 64, "messages": MESSAGES}
    with capture_events(bus) as events, client:
        raw = client.messages.with_raw_response.create(**kwargs)
        assert raw.parse().usage.output_tokens == 300
        with client.with_streaming_response.messages.create(**kwargs) as response:
            assert b"".join(response.iter_bytes())
        with client.beta.messages.with_streaming_response.create(stream=True, **kwargs) as response:
            for _ in response.iter_lines():
                pass
    calls = events.of(LLMCallFinished)
    assert len(calls) == 3
    for event in calls:
        assert event.ok and event.output_tokens == 300
        assert event.cost_usd == pytest.approx(expected_cost(PLATFORMS[0]), rel=1e-12)
        assert event.request_id is not None


def test_count_tokens_is_not_a_billed_call(fake: FakeAnthropicServer, bus: Bus) -> None:
    client = instrument(client_of(PLATFORMS[0], fake, sync=True), bus=bus)
    with capture_events(bus) as events, client:
        counted = client.messages.count_tokens(model="claude-opus-4-8", messages=MESSAGES)
        client.beta.messages.count_tokens(model="claude-opus-4-8", messages=MESSAGES)
    assert counted.input_tokens > 0
    assert events.of(LLMCallFinished) == []


def test_with_middleware_and_nested_copies_are_measured_once(
    fake: FakeAnthropicServer, bus: Bus
) -> None:
    seen: list[str] = []

    def middleware(request: Any, call_next: Callable[[Any], Any]) -> Any:
        seen.append("attempt")
        return call_next(request)

    fake.enqueue(*[reply()] * 2)
    client = instrument(client_of(PLATFORMS[0], fake, sync=True), bus=bus)
    with capture_events(bus) as events, client:
        if hasattr(client, "with_middleware"):
            derived = client.with_middleware(middleware).with_options(max_retries=1).copy()
        else:
            derived = client.with_options(max_retries=1).copy()
        assert instrument(derived, bus=bus) is derived, "instrumenting a copy again is a no-op"
        derived.messages.create(model="claude-opus-4-8", max_tokens=64, messages=MESSAGES)
        derived.with_options(middleware=[]).messages.create(
            model="claude-opus-4-8", max_tokens=64, messages=MESSAGES
        )
    assert len(events.of(LLMCallFinished)) == 2
    assert type(derived).__name__ == "Anthropic"
    assert isinstance(derived, anthropic.Anthropic)


@pytest.mark.parametrize("thing", [object(), "client", anthropic, None, anthropic.Anthropic])
def test_instrument_refuses_what_is_not_an_sdk_client(thing: object) -> None:
    with pytest.raises(TypeError, match=r"a client of the anthropic SDK .*AnthropicBedrock"):
        instrument(thing)  # type: ignore[type-var]  # the point of the test


def genai_price(model: str, provider: str = "anthropic", **usage: Any) -> float:
    """genai-prices' own price for Anthropic-style usage (uncached input)."""
    context = usage.pop("price_context", None)
    read = usage.pop("cache_read_tokens", 0)
    return float(
        calc_price(
            Usage(
                input_tokens=usage.pop("input_tokens") + read,
                cache_read_tokens=read,
                **usage,
            ),
            model,
            provider_id=provider,
            price_context=context,
        ).total_price
    )


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
def test_web_searches_are_a_cost_component_of_their_own(
    fake: FakeAnthropicServer, bus: Bus, streamed: bool
) -> None:
    fake.enqueue(reply(REPORTED, web_search_requests=3, web_fetch_requests=2))
    client = instrument(client_of(PLATFORMS[0], fake, sync=True), bus=bus)
    with capture_events(bus) as events, client:
        call_sync(
            client.beta.messages, "create_stream" if streamed else "create", "claude-opus-4-8"
        )
    event = only_call(events)
    assert (event.web_search_requests, event.web_fetch_requests) == (3, 2)
    assert event.web_search_cost_usd == pytest.approx(3 * 10 / 1000, rel=1e-12)
    expected = genai_price(
        ANSWERED, input_tokens=2_000, output_tokens=500, cache_read_tokens=1_000, web_searches=3
    )
    assert event.cost_usd == pytest.approx(expected, rel=1e-12)
    assert event.cost_complete, "web fetches are billed as tokens only"


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
def test_fast_mode_is_priced_by_the_fast_variant(
    fake: FakeAnthropicServer, bus: Bus, streamed: bool
) -> None:
    fake.enqueue(reply(REPORTED, speed="fast"))
    client = instrument(client_of(PLATFORMS[0], fake, sync=True), bus=bus)
    with capture_events(bus) as events, client:
        call_sync(client.messages, "create_stream" if streamed else "create", "claude-opus-4-8")
    event = only_call(events)
    assert event.speed == "fast"
    standard = genai_price(ANSWERED, input_tokens=2_000, output_tokens=500, cache_read_tokens=1_000)
    fast = genai_price(
        ANSWERED,
        input_tokens=2_000,
        output_tokens=500,
        cache_read_tokens=1_000,
        price_context={"speed": "fast"},
    )
    assert fast == pytest.approx(2 * standard)
    assert event.cost_usd == pytest.approx(fast, rel=1e-12)
    assert event.cost_complete


def test_what_has_no_price_marks_the_cost_incomplete(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(
        reply(REPORTED, service_tier="priority"),
        reply(REPORTED, model="claude-sonnet-4-6", speed="fast"),
    )
    client = instrument(client_of(PLATFORMS[0], fake, sync=True), bus=bus)
    with capture_events(bus) as events, client:
        call_sync(client.messages, "create", "claude-opus-4-8")
        call_sync(client.messages, "create", "claude-sonnet-4-6")
    priority, fast = events.of(LLMCallFinished)
    assert priority.service_tier == "priority"
    assert not priority.cost_complete and priority.unpriced == "service_tier=priority"
    assert priority.partially_priced
    assert priority.cost_usd == pytest.approx(
        genai_price(ANSWERED, input_tokens=2_000, output_tokens=500, cache_read_tokens=1_000)
    ), "what can be priced is, at standard rates, and the event says what is left out"
    assert not fast.cost_complete and fast.unpriced == "speed=fast"


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
def test_thinking_and_region_are_reported(
    fake: FakeAnthropicServer, bus: Bus, streamed: bool
) -> None:
    fake.enqueue(reply(REPORTED, thinking_tokens=120, inference_geo="us"))
    client = instrument(client_of(PLATFORMS[0], fake, sync=True), bus=bus)
    with capture_events(bus) as events, client:
        call_sync(client.messages, "create_stream" if streamed else "create", "claude-opus-4-8")
    event = only_call(events)
    assert (event.output_tokens, event.thinking_tokens) == (500, 120)
    assert event.inference_geo == "us"
    assert event.cost_usd == pytest.approx(
        genai_price(ANSWERED, input_tokens=2_000, output_tokens=500, cache_read_tokens=1_000)
    ), "thinking tokens are output tokens, never charged twice"


BAD_USAGE = [
    {"input_tokens": -5, "output_tokens": 7},
    {"input_tokens": "12", "output_tokens": 7.5, "server_tool_use": {"web_search_requests": -1}},
    {"input_tokens": True, "output_tokens": None, "output_tokens_details": "lots"},
    {"input_tokens": 10, "output_tokens": 5, "server_tool_use": None, "speed": 42},
]


@pytest.mark.parametrize("usage", BAD_USAGE)
def test_usage_fields_of_the_wrong_type_count_as_zero_and_never_raise(
    bus: Bus, usage: dict[str, Any]
) -> None:
    import httpx2

    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": ANSWERED,
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=body))
    raw = anthropic.Anthropic(
        api_key="k", base_url="http://proxy.invalid", http_client=httpx2.Client(transport=transport)
    )
    client = instrument(raw, bus=bus)
    with capture_events(bus) as events, client:
        message = client.messages.create(model="claude-opus-4-8", max_tokens=5, messages=MESSAGES)
    assert message.id == "msg_1", "the caller gets the SDK's message, whatever its usage holds"
    event = only_call(events)
    for name in ("input_tokens", "output_tokens", "web_search_requests", "thinking_tokens"):
        value = getattr(event, name)
        assert type(value) is int and value >= 0, name
    assert event.speed is None


def test_bad_usage_is_logged_once_per_episode(bus: Bus, caplog: pytest.LogCaptureFixture) -> None:
    import httpx2

    from agentguard_trace import usage

    usage._BAD_USAGE.recovered("agentguard.trace.usage")  # a fresh episode for this test
    caplog.clear()
    body: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": ANSWERED,
        "content": [],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": -1, "output_tokens": "x"},
    }
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=body))
    raw = anthropic.Anthropic(
        api_key="k", base_url="http://proxy.invalid", http_client=httpx2.Client(transport=transport)
    )
    client = instrument(raw, bus=bus)
    with caplog.at_level("WARNING", logger="agentguard.trace"), client:
        for _ in range(50):
            client.messages.create(model="claude-opus-4-8", max_tokens=5, messages=MESSAGES)
    lines = [r for r in caplog.records if r.name == "agentguard.trace"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "input_tokens" in lines[0].getMessage()


def test_the_tool_runner_is_one_event_per_request(fake: FakeAnthropicServer, bus: Bus) -> None:
    from anthropic import beta_tool

    from agentguard_fake import ToolUse

    @beta_tool
    def order_status(order_id: str) -> str:
        """The status of an order.

        Args:
            order_id: The order.
        """
        return f"order {order_id} shipped"

    fake.enqueue(
        Reply(model=ANSWERED, tool_use=ToolUse(name="order_status", input={"order_id": "1"})),
        Reply(model=ANSWERED, tool_use=ToolUse(name="order_status", input={"order_id": "2"})),
        Reply(model=ANSWERED, text="Both shipped."),
    )
    client = instrument(client_of(PLATFORMS[0], fake, sync=True), bus=bus)
    with capture_events(bus) as events, client:
        runner = client.beta.messages.tool_runner(
            model="claude-opus-4-8", max_tokens=256, messages=MESSAGES, tools=[order_status]
        )
        last = runner.until_done()
    assert last.content[0].type == "text"
    calls = events.of(LLMCallFinished)
    assert len(calls) == len(fake.requests) == 3
    assert [c.stop_reason for c in calls] == ["tool_use", "tool_use", "end_turn"]
    assert all(c.ok and c.cost_usd and c.cost_usd > 0 for c in calls)


def test_parse_is_measured(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(reply(REPORTED, text='{"status": "shipped"}'))
    client = instrument(client_of(PLATFORMS[0], fake, sync=True), bus=bus)
    with capture_events(bus) as events, client:
        parsed = client.messages.parse(model="claude-opus-4-8", max_tokens=64, messages=MESSAGES)
    assert parsed.usage.output_tokens == 500
    event = only_call(events)
    assert event.model == ANSWERED and event.output_tokens == 500


def test_a_count_past_the_limits_is_refused_at_the_edge(bus: Bus) -> None:
    import httpx2

    body: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": ANSWERED,
        "content": [],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10**18, "output_tokens": 7, "cache_read_input_tokens": 10**9},
    }
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=body))
    raw = anthropic.Anthropic(
        api_key="k", base_url="http://proxy.invalid", http_client=httpx2.Client(transport=transport)
    )
    with capture_events(bus) as events, instrument(raw, bus=bus) as client:
        client.messages.create(model="claude-opus-4-8", max_tokens=5, messages=MESSAGES)
    event = only_call(events)
    assert (event.input_tokens, event.output_tokens) == (0, 7), "10**18 tokens is garbage"
    assert event.cache_read_tokens == 10**9, "the limit itself is in range"
    assert invalid_field(event) is None
