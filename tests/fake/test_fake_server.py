"""The fake Messages API, driven by the real anthropic SDK over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import anthropic
import httpx2
import pytest
from anthropic.types import (
    Message,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    TextBlock,
    ToolUseBlock,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import agentguard_fake
from agentguard_fake import (
    Delay,
    Fail,
    FailMidStream,
    FakeAnthropicServer,
    Reply,
    ToolUse,
)
from support.api import assert_all_is_public_api

if TYPE_CHECKING:
    from anthropic.types.message_param import MessageParam
    from anthropic.types.text_block_param import TextBlockParam

MODEL = "claude-sonnet-4-6"
HELLO: list[MessageParam] = [{"role": "user", "content": "Hello, fake Claude."}]
SCRIPTED = Reply(
    text="The answer is forty-two, as always.",
    input_tokens=120,
    output_tokens=9,
    cache_read_input_tokens=300,
    cache_write_5m_tokens=40,
    cache_write_1h_tokens=60,
)

# anthropic 2.x names the 413 class ContentTooLargeError; 1.x, RequestTooLargeError.
_CONTENT_TOO_LARGE: type[anthropic.APIStatusError] = getattr(
    anthropic, "ContentTooLargeError", anthropic.APIStatusError
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def running_server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(seed=11) as fake:
        yield fake


@pytest.fixture
def server(running_server: FakeAnthropicServer) -> FakeAnthropicServer:
    running_server.reset()
    return running_server


@pytest.fixture
def client(server: FakeAnthropicServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=server.url, api_key="test-key", max_retries=0) as sdk:
        yield sdk


def create(client: anthropic.Anthropic, **overrides: object) -> Message:
    params: dict[str, object] = {"model": MODEL, "max_tokens": 256, "messages": HELLO}
    params.update(overrides)
    return client.messages.create(**params)  # type: ignore[call-overload, no-any-return]  # params vary per test


def assert_scripted_usage(message: Message) -> None:
    usage = message.usage
    assert usage.input_tokens == 120
    assert usage.output_tokens == 9
    assert usage.cache_read_input_tokens == 300
    assert usage.cache_creation_input_tokens == 100
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_5m_input_tokens == 40
    assert usage.cache_creation.ephemeral_1h_input_tokens == 60


def test_fake_all_lists_exactly_the_public_names() -> None:
    assert_all_is_public_api(agentguard_fake)


def test_scripted_reply_parses_into_a_message_with_the_scripted_usage(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    server.enqueue(SCRIPTED)

    message = create(client)

    assert isinstance(message, Message)
    assert message.id.startswith("msg_01")
    assert message.model == MODEL
    assert message.role == "assistant"
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.content == [TextBlock(type="text", text="The answer is forty-two, as always.")]
    assert_scripted_usage(message)
    assert message._request_id is not None
    assert message._request_id.startswith("req_")
    assert message._request_id == server.requests[0].request_id
    assert server.requests[0].step == SCRIPTED


def test_async_client_gets_the_scripted_reply(server: FakeAnthropicServer) -> None:
    server.enqueue(SCRIPTED)

    async def call() -> Message:
        async with anthropic.AsyncAnthropic(base_url=server.url, api_key="test-key") as sdk:
            return await sdk.messages.create(model=MODEL, max_tokens=256, messages=HELLO)

    message = asyncio.run(call())

    assert message.content[0] == TextBlock(type="text", text="The answer is forty-two, as always.")
    assert_scripted_usage(message)


def test_raw_stream_sends_the_api_event_sequence(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    server.enqueue(SCRIPTED)

    events = list(client.messages.create(model=MODEL, max_tokens=256, messages=HELLO, stream=True))

    assert isinstance(events[0], RawMessageStartEvent)
    assert events[0].message.content == []
    assert events[0].message.stop_reason is None
    assert events[0].message.usage.input_tokens == 120
    assert events[0].message.usage.cache_read_input_tokens == 300
    assert events[0].message.usage.output_tokens == 1
    assert isinstance(events[1], RawContentBlockStartEvent)
    deltas = [event for event in events if isinstance(event, RawContentBlockDeltaEvent)]
    assert len(deltas) >= 3
    text = "".join(d.delta.text for d in deltas if d.delta.type == "text_delta")
    assert text == "The answer is forty-two, as always."
    assert isinstance(events[-3], RawContentBlockStopEvent)
    assert isinstance(events[-2], RawMessageDeltaEvent)
    assert events[-2].delta.stop_reason == "end_turn"
    assert events[-2].usage.output_tokens == 9
    assert isinstance(events[-1], RawMessageStopEvent)
    assert server.requests[0].stream


def test_stream_helper_final_message_has_the_scripted_usage(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    server.enqueue(SCRIPTED)

    with client.messages.stream(model=MODEL, max_tokens=256, messages=HELLO) as stream:
        streamed_text = "".join(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.request_id

    assert streamed_text == "The answer is forty-two, as always."
    assert final.stop_reason == "end_turn"
    assert_scripted_usage(final)
    assert request_id == server.requests[0].request_id


def test_async_stream_helper_final_message_has_the_scripted_usage(
    server: FakeAnthropicServer,
) -> None:
    server.enqueue(SCRIPTED)

    async def call() -> Message:
        async with (
            anthropic.AsyncAnthropic(base_url=server.url, api_key="test-key") as sdk,
            sdk.messages.stream(model=MODEL, max_tokens=256, messages=HELLO) as stream,
        ):
            return await stream.get_final_message()

    assert_scripted_usage(asyncio.run(call()))


def test_tool_use_reply(server: FakeAnthropicServer, client: anthropic.Anthropic) -> None:
    server.enqueue(Reply(tool_use=ToolUse(name="get_weather", input={"city": "Paris", "days": 3})))

    message = create(client)

    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert isinstance(block, ToolUseBlock)
    assert block.id.startswith("toolu_01")
    assert block.name == "get_weather"
    assert block.input == {"city": "Paris", "days": 3}


def test_streamed_tool_use_arrives_as_input_json_deltas(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    tool = ToolUse(name="search", input={"query": "prompt caching", "limit": 10}, id="toolu_x")
    server.enqueue(Reply(text="Let me look.", tool_use=tool))

    with client.messages.stream(model=MODEL, max_tokens=256, messages=HELLO) as stream:
        events = list(stream)
        final = stream.get_final_message()

    json_deltas = [
        event.delta.partial_json
        for event in events
        if isinstance(event, RawContentBlockDeltaEvent) and event.delta.type == "input_json_delta"
    ]
    assert len(json_deltas) >= 3
    assert json.loads("".join(json_deltas)) == {"query": "prompt caching", "limit": 10}
    assert final.stop_reason == "tool_use"
    text_block, tool_block = final.content
    assert isinstance(text_block, TextBlock)
    assert text_block.text == "Let me look."
    assert isinstance(tool_block, ToolUseBlock)
    assert (tool_block.id, tool_block.input) == (
        "toolu_x",
        {"query": "prompt caching", "limit": 10},
    )


@pytest.mark.parametrize(
    ("fail", "error_class", "error_type"),
    [
        (
            Fail(status=400, message="max_tokens: too big"),
            anthropic.BadRequestError,
            "invalid_request_error",
        ),
        (Fail.prompt_too_long(), anthropic.BadRequestError, "invalid_request_error"),
        (Fail(status=401), anthropic.AuthenticationError, "authentication_error"),
        (Fail(status=403), anthropic.PermissionDeniedError, "permission_error"),
        (Fail(status=404), anthropic.NotFoundError, "not_found_error"),
        (Fail(status=413), _CONTENT_TOO_LARGE, "request_too_large"),
        (Fail(status=429, retry_after_s=7), anthropic.RateLimitError, "rate_limit_error"),
        (Fail(status=500), anthropic.InternalServerError, "api_error"),
        (Fail(status=529), anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_scripted_errors_raise_the_sdk_exception_class(
    server: FakeAnthropicServer,
    client: anthropic.Anthropic,
    fail: Fail,
    error_class: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    server.enqueue(fail)

    with pytest.raises(error_class) as caught:
        create(client)

    error = caught.value
    assert error.status_code == fail.status
    assert error.request_id == server.requests[0].request_id
    assert error.type == error_type
    assert error.api_message == fail.resolved_message
    assert error.error_code is None
    assert error.body == {
        "type": "error",
        "error": {"type": error_type, "message": fail.resolved_message},
        "request_id": error.request_id,
    }
    if fail.retry_after_s is not None:
        assert error.response.headers["retry-after"] == "7"


def test_context_window_message_is_the_api_wording(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    server.enqueue(Fail.prompt_too_long(250_000, 200_000))

    with pytest.raises(anthropic.BadRequestError) as caught:
        create(client)

    assert caught.value.api_message == "prompt is too long: 250000 tokens > 200000 maximum"


def test_error_code_picks_the_spend_limit_subclass(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    server.enqueue(Fail(status=429, error_code="enforced_spend_limit_reached", should_retry=False))

    with pytest.raises(anthropic.EnforcedSpendLimitReachedError) as caught:
        # x-should-retry: false is what stops the SDK from retrying it
        create(client.with_options(max_retries=3))

    assert isinstance(caught.value, anthropic.RateLimitError)
    assert caught.value.error_code == "enforced_spend_limit_reached"
    assert caught.value.details is not None
    assert len(server.requests) == 1


def test_rate_limit_with_retry_after_then_success_is_two_attempts(
    server: FakeAnthropicServer,
) -> None:
    server.enqueue(Fail(status=429, retry_after_s=0.01), Reply(text="Made it."))

    with anthropic.Anthropic(base_url=server.url, api_key="test-key", max_retries=1) as sdk:
        message = sdk.messages.create(model=MODEL, max_tokens=64, messages=HELLO)

    assert message.content[0] == TextBlock(type="text", text="Made it.")
    first, second = server.requests
    assert (first.status, second.status) == (429, 200)
    assert first.headers["x-stainless-retry-count"] == "0"
    assert second.headers["x-stainless-retry-count"] == "1"
    assert message._request_id == second.request_id != first.request_id


def test_slow_answer_times_the_client_out(server: FakeAnthropicServer) -> None:
    server.enqueue(Delay(seconds=0.5), Reply(text="Too late."))

    with (
        anthropic.Anthropic(
            base_url=server.url, api_key="test-key", max_retries=0, timeout=0.1
        ) as sdk,
        pytest.raises(anthropic.APITimeoutError),
    ):
        sdk.messages.create(model=MODEL, max_tokens=64, messages=HELLO)

    [record] = server.requests
    assert record.delay_s == 0.5
    assert record.step == Reply(text="Too late.")


def test_stream_failing_midway_raises_after_the_first_deltas(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    server.enqueue(FailMidStream(after_deltas=2, text="one two three four five six seven eight"))
    received: list[str] = []

    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(model=MODEL, max_tokens=64, messages=HELLO) as stream,
    ):
        received.extend(stream.text_stream)

    assert received == ["one two ", "three four "]
    error = caught.value
    # The SDK builds this error from the 200 response that carried the stream, so it is the
    # base class whatever the event says: classify mid-stream errors on `type`.
    assert type(error) is anthropic.APIStatusError
    assert error.status_code == 200
    assert error.type == "overloaded_error"
    assert error.request_id == server.requests[0].request_id


def test_fail_mid_stream_on_a_plain_request_is_the_matching_http_error(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    server.enqueue(FailMidStream())

    with pytest.raises(anthropic.OverloadedError):
        create(client)


def cached_request(system_text: str, ttl: str = "5m") -> dict[str, object]:
    system: list[TextBlockParam] = [
        {"type": "text", "text": system_text, "cache_control": {"type": "ephemeral", "ttl": ttl}}  # type: ignore[typeddict-item]  # ttl is a Literal in the SDK types
    ]
    return {"system": system, "messages": [{"role": "user", "content": "What changed today?"}]}


def test_prompt_cache_warms_up(server: FakeAnthropicServer, client: anthropic.Anthropic) -> None:
    request = cached_request("You are a careful agent. " * 400)  # 10000 chars, 2500 tokens

    first = create(client, **request)
    second = create(client, **request)

    assert first.usage.cache_creation_input_tokens == 2500
    assert first.usage.cache_creation is not None
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == 2500
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.cache_read_input_tokens == 2500
    assert first.usage.input_tokens == second.usage.input_tokens == 5  # the uncached question


def test_prompt_cache_one_hour_ttl_and_expiry_on_the_injected_clock() -> None:
    clock = FakeClock()
    request = cached_request("x" * 8000, ttl="1h")
    with (
        FakeAnthropicServer(clock=clock) as fake,
        anthropic.Anthropic(base_url=fake.url, api_key="test-key") as sdk,
    ):
        first = create(sdk, **request)
        clock.now += 3599
        second = create(sdk, **request)
        clock.now += 3601
        third = create(sdk, **request)

    assert first.usage.cache_creation is not None
    assert first.usage.cache_creation.ephemeral_1h_input_tokens == 2000
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == 0
    assert second.usage.cache_read_input_tokens == 2000  # a hit refreshes the TTL
    assert third.usage.cache_read_input_tokens == 0
    assert third.usage.cache_creation_input_tokens == 2000


def test_prompt_cache_reads_the_cached_turns_of_a_growing_conversation(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    def turn(text: str, *, breakpoint_here: bool) -> dict[str, object]:
        block: dict[str, object] = {"type": "text", "text": text}
        if breakpoint_here:
            block["cache_control"] = {"type": "ephemeral"}
        return {"role": "user", "content": [block]}

    history = [turn("a" * 6000, breakpoint_here=True)]
    first = create(client, messages=history)
    history = [
        turn("a" * 6000, breakpoint_here=False),
        {"role": "assistant", "content": "b" * 400},
        turn("c" * 400, breakpoint_here=True),
    ]
    second = create(client, messages=history)

    assert first.usage.cache_creation_input_tokens == 1500
    assert second.usage.cache_read_input_tokens == 1500
    assert second.usage.cache_creation_input_tokens == 200
    assert second.usage.input_tokens == 0


def test_prompt_cache_ignores_prefixes_below_the_minimum(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    request = cached_request("short system prompt")

    first = create(client, **request)
    second = create(client, **request)

    assert first.usage.cache_creation_input_tokens == second.usage.cache_read_input_tokens == 0


def test_streamed_default_reply_carries_cache_usage(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    request = cached_request("y" * 4800)
    create(client, **request)

    with client.messages.stream(model=MODEL, max_tokens=256, **request) as stream:  # type: ignore[arg-type]  # built as a dict
        final = stream.get_final_message()

    assert final.usage.cache_read_input_tokens == 1200


def run_session(seed: int) -> list[object]:
    outputs: list[object] = []
    with (
        FakeAnthropicServer(seed=seed) as fake,
        anthropic.Anthropic(base_url=fake.url, api_key="test-key", max_retries=0) as sdk,
    ):
        fake.enqueue(Reply(tool_use=ToolUse(name="lookup", input={"q": 1})), Fail(status=529))
        for _ in range(2):
            try:
                message = create(sdk)
                outputs.append((message.to_dict(), message._request_id))
            except anthropic.APIStatusError as error:
                outputs.append((error.body, error.request_id))
        message = create(sdk, **cached_request("z" * 5000))
        outputs.append((message.to_dict(), message._request_id))
        with sdk.messages.stream(model=MODEL, max_tokens=32, messages=HELLO) as stream:
            outputs.append((stream.get_final_message().to_dict(), stream.request_id))
    return outputs


def test_same_seed_same_requests_give_identical_answers() -> None:
    assert run_session(seed=5) == run_session(seed=5)
    assert run_session(seed=5) != run_session(seed=6)


def test_default_reply_respects_max_tokens(client: anthropic.Anthropic) -> None:
    message = create(client, max_tokens=2)

    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens <= 2


def test_count_tokens(client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "x" * 400}]
    )

    assert counted.input_tokens == 100


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "There was an error parsing the body"),
        (b"[]", "Input should be a valid dictionary"),
        (b'{"max_tokens": 5, "messages": []}', "model: Field required"),
        (b'{"model": "m", "max_tokens": 5}', "messages: Field required"),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}',
            "max_tokens: Field required",
        ),
        (b'{"model": "m", "max_tokens": 5, "messages": []}', "messages: at least one message"),
        (
            b'{"model": "m", "max_tokens": "5", "messages": [{"role": "user", "content": "hi"}]}',
            "max_tokens:",
        ),
    ],
)
def test_malformed_requests_get_400_invalid_request_error(
    server: FakeAnthropicServer, body: bytes, message: str
) -> None:
    response = httpx2.post(f"{server.url}/v1/messages", content=body)

    assert response.status_code == 400
    payload = response.json()
    assert payload["type"] == "error"
    assert payload["error"]["type"] == "invalid_request_error"
    assert payload["error"]["message"].startswith(message)
    assert payload["request_id"] == response.headers["request-id"]
    assert server.requests[0].step is None


def test_unknown_path_is_a_404_in_the_api_shape(server: FakeAnthropicServer) -> None:
    response = httpx2.get(f"{server.url}/v1/nowhere")

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "model",
                    "messages",
                    "max_tokens",
                    "stream",
                    "system",
                    "tools",
                    "role",
                    "content",
                    "type",
                    "text",
                    "cache_control",
                    "ttl",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


VERTEX_MODELS = "/projects/p/locations/us-east5/publishers/anthropic/models"


def test_fuzzed_bodies_never_get_a_5xx() -> None:
    with (
        FakeAnthropicServer(min_cacheable_tokens=1) as fake,
        httpx2.Client(base_url=fake.url) as http,
    ):

        @settings(max_examples=100, deadline=None)
        @given(body=json_values)
        def check(body: object) -> None:
            nested = [{"role": "user", "content": body}]
            for payload in (
                body,
                {"model": "m", "max_tokens": 9, "messages": body},
                {"model": "m", "max_tokens": 9, "system": body, "tools": body, "messages": nested},
            ):
                versioned = payload
                if isinstance(payload, dict):
                    versioned = {**payload, "anthropic_version": "2023-06-01"}
                for path, sent in (
                    ("/v1/messages", payload),
                    ("/model/m/invoke", versioned),
                    (f"{VERTEX_MODELS}/m:rawPredict", versioned),
                    ("/v1/messages/batches", {"requests": [{"custom_id": "a", "params": payload}]}),
                    ("/v1/messages/batches", {"requests": payload}),
                ):
                    response = http.post(path, content=json.dumps(sent).encode())
                    assert response.status_code in (200, 400), (path, response.text)

        check()


def test_records_what_was_received_without_credentials(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    create(client)

    [record] = server.requests
    assert (record.method, record.path, record.status, record.step) == (
        "POST",
        "/v1/messages",
        200,
        None,
    )
    assert record.body == {"model": MODEL, "max_tokens": 256, "messages": HELLO}
    assert "anthropic-version" in record.headers
    assert not {"x-api-key", "authorization"} & set(record.headers)


def test_reset_makes_it_answer_like_a_new_server(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    before = create(client, **cached_request("w" * 5000))
    server.enqueue(Fail(status=500))

    server.reset()
    after = create(client, **cached_request("w" * 5000))

    assert server.pending == ()
    assert len(server.requests) == 1
    assert after.to_dict() == before.to_dict()
    assert after._request_id == before._request_id


def test_explicit_start_and_stop_on_a_chosen_port(unused_port: int) -> None:
    fake = FakeAnthropicServer(port=unused_port)
    with pytest.raises(RuntimeError, match="start"):
        _ = fake.url

    fake.start()
    try:
        was_running = fake.running
        assert fake.url == f"http://127.0.0.1:{unused_port}"
        assert httpx2.post(f"{fake.url}/v1/messages", content=b"{}").status_code == 400
    finally:
        fake.stop()
    fake.stop()

    assert was_running
    assert not fake.running
    with pytest.raises(httpx2.ConnectError):
        httpx2.post(f"http://127.0.0.1:{unused_port}/v1/messages", content=b"{}")


def test_enqueue_rejects_what_is_not_a_step(server: FakeAnthropicServer) -> None:
    with pytest.raises(TypeError, match="Reply, Fail"):
        server.enqueue("hello")  # type: ignore[arg-type]  # the misuse under test


def test_misused_steps_fail_fast() -> None:
    with pytest.raises(ValueError, match="4xx or 5xx"):
        Fail(status=200)
    with pytest.raises(ValueError, match="negative"):
        Delay(seconds=-1)
