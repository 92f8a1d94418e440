"""instrument(client) through the real SDK against the project's fake Messages API server."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
from collections.abc import Iterator, Sequence

import anthropic
import httpx2
import pytest

from agentguard import Bus
from agentguard.events import Event, LLMCallFinished
from agentguard.testing import capture_events
from agentguard_fake import Delay, Fail, FailMidStream, FakeAnthropicServer, Reply, ToolUse
from agentguard_trace import instrument
from support.waiting import wait_until

# agentguard-classify, when installed, tells a context-window 400 from other bad requests.
_CONTEXT_WINDOW_KIND = (
    "context_window_exceeded"
    if importlib.util.find_spec("agentguard_classify") is not None
    else "invalid_request"
)
MODEL = "claude-sonnet-4-6"  # $3 input, $15 output, $0.30 read, $3.75 5m write, $6 1h write per M
MESSAGES: list[anthropic.types.MessageParam] = [
    {"role": "user", "content": "What is the status of order 1234?"}
]
SCRIPTED = Reply(
    text="It shipped yesterday.",
    input_tokens=1_200,
    output_tokens=300,
    cache_read_input_tokens=9_000,
    cache_write_5m_tokens=400,
    cache_write_1h_tokens=100,
)
# Hand-computed: 1200*3 + 300*15 + 9000*0.30 + 400*3.75 + 100*6, per million.
SCRIPTED_COST = (1_200 * 3.00 + 300 * 15.00 + 9_000 * 0.30 + 400 * 3.75 + 100 * 6.00) / 1e6
SCRIPTED_WITHOUT_CACHE = ((1_200 + 9_000 + 400 + 100) * 3.00 + 300 * 15.00) / 1e6


_OPEN: list[anthropic.Anthropic] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _client(fake: FakeAnthropicServer, **options: object) -> anthropic.Anthropic:
    options.setdefault("max_retries", 0)
    client = anthropic.Anthropic(base_url=fake.url, api_key="test-key", **options)  # type: ignore[arg-type]  # test options
    _OPEN.append(client)
    return client


def _async_client(fake: FakeAnthropicServer, **options: object) -> anthropic.AsyncAnthropic:
    """An async client; use it as ``async with`` so it closes on the loop that opened it."""
    options.setdefault("max_retries", 0)
    return anthropic.AsyncAnthropic(base_url=fake.url, api_key="test-key", **options)  # type: ignore[arg-type]  # test options


def _stream(client: anthropic.Anthropic) -> anthropic.Stream[anthropic.types.RawMessageStreamEvent]:
    """``messages.create(stream=True)`` for the test's one question."""
    return client.messages.create(model=MODEL, max_tokens=512, messages=MESSAGES, stream=True)


def _only_call(events: Sequence[Event]) -> LLMCallFinished:
    calls = [e for e in events if isinstance(e, LLMCallFinished)]
    assert len(calls) == 1, events
    return calls[0]


def _assert_scripted_usage(event: LLMCallFinished) -> None:
    assert (event.input_tokens, event.output_tokens) == (1_200, 300)
    assert event.cache_read_tokens == 9_000
    assert (event.cache_write_5m_tokens, event.cache_write_1h_tokens) == (400, 100)
    assert event.cost_usd == pytest.approx(SCRIPTED_COST, abs=1e-12)
    assert event.cost_without_cache_usd == pytest.approx(SCRIPTED_WITHOUT_CACHE, abs=1e-12)
    assert event.model == MODEL
    assert event.provider == "anthropic"


def test_create_publishes_one_event_and_returns_the_sdk_message(
    fake: FakeAnthropicServer, bus: Bus
) -> None:
    fake.enqueue(SCRIPTED)
    client = instrument(_client(fake), bus=bus)
    with capture_events(bus) as events:
        message = client.messages.create(model=MODEL, max_tokens=512, messages=MESSAGES)
    assert type(message) is anthropic.types.Message
    assert message.content[0].text == "It shipped yesterday."  # type: ignore[union-attr]  # a text block
    event = _only_call(events)
    _assert_scripted_usage(event)
    assert event.ok and event.error_kind is None
    assert not event.streamed and event.time_to_first_token_s is None
    assert event.stop_reason == "end_turn"
    assert event.request_id == message._request_id
    assert event.retries == 0
    assert event.duration_s > 0


def test_async_create(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(SCRIPTED)

    async def main() -> anthropic.types.Message:
        async with _async_client(fake) as raw:
            client = instrument(raw, bus=bus)
            return await client.messages.create(model=MODEL, max_tokens=512, messages=MESSAGES)

    with capture_events(bus) as events:
        message = asyncio.run(main())
    event = _only_call(events)
    _assert_scripted_usage(event)
    assert event.request_id == message._request_id


def test_create_stream_reads_usage_from_the_events(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(SCRIPTED)
    client = instrument(_client(fake), bus=bus)
    with capture_events(bus) as events:
        stream = _stream(client)
        assert type(stream) is anthropic.Stream
        assert events.of(LLMCallFinished) == [], "the call ends when the stream does"
        kinds = [chunk.type for chunk in stream]
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    event = _only_call(events)
    _assert_scripted_usage(event)
    assert event.streamed and event.ok
    assert event.time_to_first_token_s is not None
    assert 0 < event.time_to_first_token_s <= event.duration_s
    assert event.request_id is not None and event.request_id.startswith("req_")


def test_messages_stream_helper(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(SCRIPTED)
    client = instrument(_client(fake), bus=bus)
    with (
        capture_events(bus) as events,
        client.messages.stream(
            model=MODEL,
            max_tokens=512,
            messages=MESSAGES,
        ) as stream,
    ):
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "It shipped yesterday."
    event = _only_call(events)
    _assert_scripted_usage(event)
    assert final.usage.output_tokens == event.output_tokens
    assert event.streamed and event.ok and event.stop_reason == "end_turn"


def test_async_streams(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(SCRIPTED, SCRIPTED)

    async def main() -> str:
        async with _async_client(fake) as raw:
            client = instrument(raw, bus=bus)
            stream = await client.messages.create(
                model=MODEL,
                max_tokens=512,
                messages=MESSAGES,
                stream=True,
            )
            async for _ in stream:
                pass
            async with client.messages.stream(
                model=MODEL,
                max_tokens=512,
                messages=MESSAGES,
            ) as s:
                return "".join([text async for text in s.text_stream])

    with capture_events(bus) as events:
        assert asyncio.run(main()) == "It shipped yesterday."
    calls = events.of(LLMCallFinished)
    assert len(calls) == 2
    for event in calls:
        _assert_scripted_usage(event)
        assert event.streamed and event.ok and event.time_to_first_token_s is not None


def test_tool_use(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(Reply(tool_use=ToolUse(name="lookup_order", input={"order_id": 1234})))
    client = instrument(_client(fake), bus=bus)
    with capture_events(bus) as events:
        message = client.messages.create(model=MODEL, max_tokens=512, messages=MESSAGES)
    assert message.stop_reason == "tool_use"
    assert message.content[-1].type == "tool_use"
    event = _only_call(events)
    assert event.stop_reason == "tool_use"
    assert event.output_tokens == message.usage.output_tokens
    assert event.input_tokens == message.usage.input_tokens > 0


@pytest.mark.parametrize(
    ("step", "exception", "kind"),
    [
        (Fail(status=400), anthropic.BadRequestError, "invalid_request"),
        (Fail.prompt_too_long(), anthropic.BadRequestError, _CONTEXT_WINDOW_KIND),
        (Fail(status=401), anthropic.AuthenticationError, "auth"),
        (Fail(status=403), anthropic.PermissionDeniedError, "permission"),
        (Fail(status=404), anthropic.NotFoundError, "not_found"),
        (Fail(status=413), anthropic.APIStatusError, "request_too_large"),
        (Fail(status=429, retry_after_s=0.01), anthropic.RateLimitError, "rate_limited"),
        (Fail(status=500), anthropic.InternalServerError, "server_error"),
        (Fail(status=529), anthropic.OverloadedError, "overloaded"),
    ],
    ids=["400", "context-window", "401", "403", "404", "413", "429", "500", "529"],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "stream"])
def test_each_scripted_error_is_raised_unchanged_and_published_once(
    fake: FakeAnthropicServer,
    bus: Bus,
    step: Fail,
    exception: type[Exception],
    kind: str,
    streamed: bool,
) -> None:
    fake.enqueue(step)
    client = instrument(_client(fake), bus=bus)
    plain = _client(fake)
    with capture_events(bus) as events, pytest.raises(exception) as raised:
        client.messages.create(model=MODEL, max_tokens=512, messages=MESSAGES, stream=streamed)
    fake.enqueue(step)
    with pytest.raises(exception) as uninstrumented:
        plain.messages.create(model=MODEL, max_tokens=512, messages=MESSAGES, stream=streamed)
    assert type(raised.value) is type(uninstrumented.value)
    assert (
        str(raised.value).split("request_id")[0] == str(uninstrumented.value).split("request_id")[0]
    )
    event = _only_call(events)
    assert not event.ok
    assert event.error_kind == kind
    assert event.request_id == raised.value.request_id  # type: ignore[attr-defined]  # APIStatusError
    assert event.cost_usd == 0.0


def test_retries_inside_the_sdk_are_counted(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(Fail(status=429, retry_after_s=0.01), Fail(status=529, retry_after_s=0.01))
    fake.enqueue(SCRIPTED)
    client = instrument(_client(fake, max_retries=2), bus=bus)
    with capture_events(bus) as events:
        message = client.messages.create(model=MODEL, max_tokens=512, messages=MESSAGES)
    assert len(fake.requests) == 3
    event = _only_call(events)
    assert event.retries == 2
    assert event.ok
    assert event.request_id == message._request_id
    _assert_scripted_usage(event)


def test_a_stream_abandoned_halfway(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(Reply(text="one two three four five six seven eight", input_tokens=50))
    client = instrument(_client(fake), bus=bus)
    with capture_events(bus) as events:
        stream = _stream(client)
        iterator = iter(stream)
        next(iterator)
        next(iterator)
        stream.close()
    event = _only_call(events)
    assert not event.ok
    assert event.error_kind == "cancelled"
    assert event.input_tokens == 50, "what message_start said is kept"
    assert event.streamed


def test_a_dropped_stream_still_publishes(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(Reply(text="one two three four", input_tokens=50))
    client = instrument(_client(fake), bus=bus)
    with capture_events(bus) as events:
        stream = _stream(client)
        del stream
        gc.collect()
    assert _only_call(events).error_kind == "cancelled"


def test_a_stream_that_fails_midway(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(FailMidStream(after_deltas=2))
    client = instrument(_client(fake), bus=bus)
    with capture_events(bus) as events:
        stream = _stream(client)
        with pytest.raises(anthropic.APIStatusError):
            for _ in stream:
                pass
    event = _only_call(events)
    assert not event.ok
    assert event.error_kind == "overloaded"


def test_a_cancelled_async_call(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(Delay(seconds=2.0), SCRIPTED)

    async def main() -> None:
        async with _async_client(fake) as raw:
            client = instrument(raw, bus=bus)
            task = asyncio.create_task(
                client.messages.create(model=MODEL, max_tokens=512, messages=MESSAGES)
            )
            # The server runs on another thread: wait for it there, the loop goes on meanwhile.
            await asyncio.to_thread(wait_until, lambda: fake.requests, 20, "the request sent")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    with capture_events(bus) as events:
        asyncio.run(main())
    event = _only_call(events)
    assert not event.ok
    assert event.error_kind == "cancelled"


def test_a_timeout(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(Delay(seconds=0.5), SCRIPTED)
    client = instrument(_client(fake, timeout=0.1), bus=bus)
    with capture_events(bus) as events, pytest.raises(anthropic.APITimeoutError):
        client.messages.create(model=MODEL, max_tokens=512, messages=MESSAGES)
    event = _only_call(events)
    assert (event.ok, event.error_kind) == (False, "timeout")


def test_an_unknown_model_is_unpriced_not_free(fake: FakeAnthropicServer, bus: Bus) -> None:
    fake.enqueue(SCRIPTED)
    client = instrument(_client(fake), bus=bus)
    with capture_events(bus) as events:
        client.messages.create(model="claude-nonexistent-9", max_tokens=512, messages=MESSAGES)
    event = _only_call(events)
    assert event.cost_usd is None
    assert event.input_cost_usd is None
    assert event.cost_without_cache_usd is None
    assert event.input_tokens == 1_200


def test_missing_or_null_usage_fields_read_as_zero(bus: Bus) -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_input_tokens": None,
            "cache_creation_input_tokens": None,
            "cache_creation": None,
        },
    }
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=body))
    raw = anthropic.Anthropic(
        api_key="k", base_url="http://proxy.invalid", http_client=httpx2.Client(transport=transport)
    )
    _OPEN.append(raw)
    client = instrument(raw, bus=bus)
    with capture_events(bus) as events:
        client.messages.create(model=MODEL, max_tokens=5, messages=MESSAGES)
    event = _only_call(events)
    assert (event.input_tokens, event.output_tokens, event.cache_read_tokens) == (10, 5, 0)
    assert event.cache_write_5m_tokens == event.cache_write_1h_tokens == 0
    assert event.request_id is None
    assert event.cost_usd == pytest.approx((10 * 3.00 + 5 * 15.00) / 1e6)


@pytest.mark.parametrize("thing", [object(), "client", anthropic, None])
def test_instrument_refuses_what_is_not_an_anthropic_client(thing: object) -> None:
    with pytest.raises(TypeError, match=r"a client of the anthropic SDK \(anthropic\.Anthropic"):
        instrument(thing)  # type: ignore[type-var]  # the point of the test


def test_instrumenting_twice_is_harmless(fake: FakeAnthropicServer, bus: Bus) -> None:
    raw = _client(fake)
    once = instrument(raw, bus=bus)
    assert once is raw, "the client is instrumented in place"
    assert instrument(once, bus=bus) is once
    fake.enqueue(Fail(status=529, retry_after_s=0.01), SCRIPTED)
    with capture_events(bus) as events:
        once.with_options(max_retries=1).messages.create(
            model=MODEL, max_tokens=512, messages=MESSAGES
        )
        once.messages.create(model=MODEL, max_tokens=512, messages=MESSAGES)
    calls = events.of(LLMCallFinished)
    assert len(calls) == 2, "a copy made with with_options() is instrumented too, once"
    assert [call.retries for call in calls] == [1, 0]


def test_clients_sharing_an_http_client_count_their_own_attempts(
    fake: FakeAnthropicServer, bus: Bus
) -> None:
    shared = httpx2.Client()
    try:
        first = instrument(
            anthropic.Anthropic(base_url=fake.url, api_key="k", http_client=shared, max_retries=1),
            bus=bus,
        )
        second = instrument(
            anthropic.Anthropic(base_url=fake.url, api_key="k", http_client=shared, max_retries=1),
            bus=bus,
        )
        fake.enqueue(Fail(status=529, retry_after_s=0.01), SCRIPTED, SCRIPTED)
        with capture_events(bus) as events:
            first.messages.create(model=MODEL, max_tokens=512, messages=MESSAGES)
            second.messages.create(model=MODEL, max_tokens=512, messages=MESSAGES)
        assert [e.retries for e in events.of(LLMCallFinished)] == [1, 0]
        assert shared.event_hooks == {"request": [], "response": []}, "nothing hooked"
    finally:
        shared.close()
