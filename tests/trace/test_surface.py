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
from agentguard.testing import capture_events
from agentguard_trace import instrument
from agentguard_trace.fake import Fail, FakeAnthropicServer, Reply

MESSAGES: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Where is my order?"}]
ANSWERED = "claude-sonnet-4-5-20250929"
USAGE = {
    "input_tokens": 1_200,
    "output_tokens": 300,
    "cache_read_input_tokens": 9_000,
    "cache_write_5m_tokens": 400,
    "cache_write_1h_tokens": 100,
}


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
    Platform("Anthropic", "anthropic", "anthropic", "claude-sonnet-4-5", {"api_key": "k"}),
    Platform(
        "AnthropicBedrock",
        "bedrock",
        "aws",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        {"aws_access_key": "AKIDEXAMPLE", "aws_secret_key": "secret", "aws_region": "us-east-1"},
    ),
    Platform(
        "AnthropicVertex",
        "vertex",
        "google",
        "claude-sonnet-4-5@20250929",
        {"region": "us-east5", "project_id": "proj", "access_token": "token"},
    ),
    Platform("AnthropicFoundry", "foundry", "anthropic", "claude-sonnet-4-5", {"api_key": "k"}),
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
    fake.enqueue(*[Reply(text="On its way.", model=ANSWERED, **USAGE)] * 4)  # type: ignore[arg-type]  # usage keys are Reply's
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
    calls = events.of(LLMCallFinished)
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
            with client:
                call_sync(resource(derive(client, how), where), style, platform.requested)
        else:

            async def main() -> None:
                client = instrument(client_of(platform, scripted, sync=False), bus=bus)
                async with client:
                    await call_async(resource(derive(client, how), where), style, platform.requested)

            asyncio.run(main())
    assert len(scripted.requests) == 1
    assert_priced(only_call(events), platform, streamed=style != "create")


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: p.name)
@pytest.mark.parametrize("where", ["messages", "beta"])
@pytest.mark.parametrize("style", ["create", "create_stream"])
def test_a_529_then_success_is_one_event_with_one_retry(
    fake: FakeAnthropicServer, bus: Bus, platform: Platform, where: str, style: str
) -> None:
    fake.enqueue(Fail(status=529, retry_after_s=0.01), Reply(model=ANSWERED, **USAGE))  # type: ignore[arg-type]  # usage keys are Reply's
    client = instrument(client_of(platform, fake, sync=True, max_retries=2), bus=bus)
    with capture_events(bus) as events, client:
        call_sync(resource(client.with_options(timeout=20.0), where), style, platform.requested)
    event = only_call(events)
    assert event.retries == 1
    assert event.ok
    assert len(fake.requests) == 2


@pytest.mark.parametrize("where", ["messages", "beta"])
def test_a_beta_stream_abandoned_midway_is_still_one_event(
    fake: FakeAnthropicServer, bus: Bus, where: str
) -> None:
    fake.enqueue(Reply(text="word " * 200, model=ANSWERED, **USAGE))  # type: ignore[arg-type]  # usage keys are Reply's
    client = instrument(client_of(PLATFORMS[0], fake, sync=True), bus=bus)
    with capture_events(bus) as events, client:
        stream = resource(client, where).create(
            model="claude-sonnet-4-5", max_tokens=256, messages=MESSAGES, stream=True
        )
        next(iter(stream))
        stream.close()
    event = only_call(events)
    assert not event.ok
    assert event.error_kind == "cancelled"
    assert event.input_tokens == 1_200, "usage known from message_start is kept"


def test_raw_and_streaming_responses_are_measured(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(*[Reply(model=ANSWERED, **USAGE)] * 3)  # type: ignore[arg-type]  # usage keys are Reply's
    client = instrument(client_of(PLATFORMS[0], fake, sync=True), bus=bus)
    kwargs: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": MESSAGES}
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
        counted = client.messages.count_tokens(model="claude-sonnet-4-5", messages=MESSAGES)
        client.beta.messages.count_tokens(model="claude-sonnet-4-5", messages=MESSAGES)
    assert counted.input_tokens > 0
    assert events.of(LLMCallFinished) == []


def test_with_middleware_and_nested_copies_are_measured_once(
    fake: FakeAnthropicServer, bus: Bus
) -> None:
    seen: list[str] = []

    def middleware(request: Any, call_next: Callable[[Any], Any]) -> Any:
        seen.append("attempt")
        return call_next(request)

    fake.enqueue(*[Reply(model=ANSWERED, **USAGE)] * 2)  # type: ignore[arg-type]  # usage keys are Reply's
    client = instrument(client_of(PLATFORMS[0], fake, sync=True), bus=bus)
    with capture_events(bus) as events, client:
        if hasattr(client, "with_middleware"):
            derived = client.with_middleware(middleware).with_options(max_retries=1).copy()
        else:
            derived = client.with_options(max_retries=1).copy()
        assert instrument(derived, bus=bus) is derived, "instrumenting a copy again is a no-op"
        derived.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES)
        derived.with_options(middleware=[]).messages.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES
        )
    assert len(events.of(LLMCallFinished)) == 2
    assert type(derived).__name__ == "Anthropic"
    assert isinstance(derived, anthropic.Anthropic)


@pytest.mark.parametrize("thing", [object(), "client", anthropic, None, anthropic.Anthropic])
def test_instrument_refuses_what_is_not_an_sdk_client(thing: object) -> None:
    with pytest.raises(TypeError, match=r"a client of the anthropic SDK .*AnthropicBedrock"):
        instrument(thing)  # type: ignore[type-var]  # the point of the test

