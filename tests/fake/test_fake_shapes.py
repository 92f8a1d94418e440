"""The fake Messages API beyond the plain first-party call, driven by the real anthropic SDK.

Usage beyond tokens, the answered model, the beta path and its tool runner, Bedrock's,
Vertex's, Foundry's and the other clients' URL shapes, and Message Batches.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import anthropic
import httpx2
import pytest
from anthropic.types import Message, RawMessageDeltaEvent, RawMessageStartEvent
from anthropic.types.beta import BetaMessage
from anthropic.types.beta.messages import BetaMessageBatch
from botocore.eventstream import EventStreamBuffer

from agentguard_fake import (
    DATED_MODELS,
    Batch,
    Fail,
    FailMidStream,
    FakeAnthropicServer,
    Reply,
    ToolUse,
)

if TYPE_CHECKING:
    from anthropic.types.message_param import MessageParam

MODEL = "claude-sonnet-4-6"
HELLO: list[MessageParam] = [{"role": "user", "content": "Hello, fake Claude."}]
BEYOND_TOKENS = Reply(
    text="Searched twice, fetched once.",
    input_tokens=50,
    output_tokens=40,
    thinking_tokens=25,
    web_search_requests=2,
    web_fetch_requests=1,
    speed="fast",
    service_tier="priority",
    inference_geo="us",
)
BEDROCK_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
VERTEX_MODEL = "claude-sonnet-4-5@20250929"


@pytest.fixture(scope="module")
def running_server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(seed=13) as fake:
        yield fake


@pytest.fixture
def server(running_server: FakeAnthropicServer) -> FakeAnthropicServer:
    running_server.reset()
    return running_server


@pytest.fixture
def client(server: FakeAnthropicServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=server.url, api_key="test-key", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def bedrock(server: FakeAnthropicServer) -> Iterator[anthropic.AnthropicBedrock]:
    with anthropic.AnthropicBedrock(
        base_url=server.url,
        aws_access_key="x",
        aws_secret_key="y",
        aws_region="us-east-1",
        max_retries=0,
    ) as sdk:
        yield sdk


@pytest.fixture
def vertex(server: FakeAnthropicServer) -> Iterator[anthropic.AnthropicVertex]:
    with anthropic.AnthropicVertex(
        base_url=server.url, region="us-east5", project_id="p", access_token="t", max_retries=0
    ) as sdk:
        yield sdk


def params(**overrides: object) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 256, "messages": HELLO, **overrides}


def assert_beyond_tokens(usage: Any) -> None:
    """``usage`` is a ``Usage`` or ``BetaUsage`` answering :data:`BEYOND_TOKENS`."""
    assert (usage.input_tokens, usage.output_tokens) == (50, 40)
    assert usage.output_tokens_details.thinking_tokens == 25
    assert usage.server_tool_use.web_search_requests == 2
    assert usage.server_tool_use.web_fetch_requests == 1
    assert (usage.speed, usage.service_tier, usage.inference_geo) == ("fast", "priority", "us")


# Usage beyond tokens, and the model answered


def test_plain_reply_carries_every_usage_field(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    server.enqueue(BEYOND_TOKENS)

    message = client.messages.create(**params())

    assert_beyond_tokens(message.usage)


def test_stream_sends_usage_where_the_api_does_and_the_final_message_has_it_all(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    server.enqueue(BEYOND_TOKENS, BEYOND_TOKENS)

    events = list(client.messages.create(**params(stream=True)))
    with client.messages.stream(**params()) as stream:
        final = stream.get_final_message()

    start = events[0]
    [delta] = [event for event in events if isinstance(event, RawMessageDeltaEvent)]
    assert isinstance(start, RawMessageStartEvent)
    started = start.message.usage
    assert (started.speed, started.service_tier, started.inference_geo) == (
        "fast",
        "priority",
        "us",
    )
    assert started.server_tool_use is None
    assert delta.usage.output_tokens == 40
    assert delta.usage.server_tool_use is not None
    assert delta.usage.server_tool_use.web_search_requests == 2
    assert delta.usage.output_tokens_details is not None
    assert delta.usage.output_tokens_details.thinking_tokens == 25
    assert_beyond_tokens(final.usage)


def test_async_stream_final_message_has_every_usage_field(server: FakeAnthropicServer) -> None:
    server.enqueue(BEYOND_TOKENS)

    async def call() -> Message:
        async with (
            anthropic.AsyncAnthropic(base_url=server.url, api_key="k") as sdk,
            sdk.messages.stream(**params()) as stream,
        ):
            return await stream.get_final_message()

    assert_beyond_tokens(asyncio.run(call()).usage)


def test_estimated_output_adds_the_thinking_tokens(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    server.enqueue(Reply(text="abcd" * 10), Reply(text="abcd" * 10, thinking_tokens=30))

    plain = client.messages.create(**params())
    thought = client.messages.create(**params())

    assert plain.usage.output_tokens == 10
    assert plain.usage.output_tokens_details is None
    assert thought.usage.output_tokens == 40
    assert thought.usage.output_tokens_details is not None
    assert thought.usage.output_tokens_details.thinking_tokens == 30


def test_unscripted_usage_is_what_the_api_sends_without_extras(
    client: anthropic.Anthropic,
) -> None:
    usage = client.messages.create(**params()).usage
    asked = client.messages.create(**params(extra_body={"speed": "fast", "inference_geo": "eu"}))

    assert usage.service_tier == "standard"
    assert (usage.speed, usage.inference_geo, usage.server_tool_use) == (None, None, None)
    assert usage.output_tokens_details is None
    assert (asked.usage.speed, asked.usage.inference_geo) == ("fast", "eu")


@pytest.mark.filterwarnings("ignore:The model 'claude-sonnet-4-5' is deprecated")
def test_answer_model_names_the_dated_model_for_an_alias() -> None:
    with FakeAnthropicServer(answer_model=DATED_MODELS) as fake:
        fake.enqueue(Reply(), Reply(model="claude-opus-4-6"))
        with anthropic.Anthropic(base_url=fake.url, api_key="k") as sdk:
            asked = params(model="claude-sonnet-4-5")
            answers = [sdk.messages.create(**asked).model for _ in range(3)]
            with sdk.messages.stream(**params(model="claude-haiku-4-5")) as stream:
                streamed = stream.get_final_message().model
            unknown = sdk.messages.create(**params(model="claude-new-model")).model

        assert answers == [
            "claude-sonnet-4-5-20250929",
            "claude-opus-4-6",
            "claude-sonnet-4-5-20250929",
        ]
        assert streamed == "claude-haiku-4-5-20251001"
        assert unknown == "claude-new-model"
        assert [record.model for record in fake.requests] == [
            "claude-sonnet-4-5",
            "claude-sonnet-4-5",
            "claude-sonnet-4-5",
            "claude-haiku-4-5",
            "claude-new-model",
        ]


def test_answer_model_takes_a_callable_and_rejects_anything_else() -> None:
    with (
        FakeAnthropicServer(answer_model=lambda model: f"{model}-v9") as fake,
        anthropic.Anthropic(base_url=fake.url, api_key="k") as sdk,
    ):
        assert sdk.messages.create(**params()).model == f"{MODEL}-v9"

    with pytest.raises(TypeError, match="answer_model"):
        FakeAnthropicServer(answer_model=42)  # type: ignore[arg-type]  # the misuse under test


def test_misused_usage_fields_and_batch_steps_fail_fast(server: FakeAnthropicServer) -> None:
    with pytest.raises(ValueError, match="part of output_tokens"):
        Reply(output_tokens=5, thinking_tokens=6)
    with pytest.raises(ValueError, match="web_search_requests"):
        Reply(web_search_requests=-1)
    with pytest.raises(ValueError, match="polls_in_progress"):
        Batch(polls_in_progress=-1)
    with pytest.raises(TypeError, match="'lost'"):
        Batch(outcomes={"a": "lost"})  # type: ignore[dict-item]  # the misuse under test
    server.enqueue(Reply(), Batch(), Reply())
    assert [type(step) for step in server.pending] == [Reply, Reply, Batch]


# The beta path


def test_beta_create_and_stream_answer_on_the_beta_path(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    server.enqueue(BEYOND_TOKENS, BEYOND_TOKENS)

    created = client.beta.messages.create(**params())
    with client.beta.messages.stream(**params()) as stream:
        final = stream.get_final_message()

    assert isinstance(created, BetaMessage)
    assert_beyond_tokens(created.usage)
    assert_beyond_tokens(final.usage)
    assert [(r.path, r.stream) for r in server.requests] == [
        ("/v1/messages", False),
        ("/v1/messages", True),
    ]


def test_the_beta_query_older_sdks_send_answers_like_the_plain_path(
    server: FakeAnthropicServer,
) -> None:
    server.enqueue(BEYOND_TOKENS)

    response = httpx2.post(f"{server.url}/v1/messages?beta=true", json=params())

    assert response.status_code == 200
    assert_beyond_tokens(Message.model_validate(response.json()).usage)
    [record] = server.requests
    assert (record.path, record.query) == ("/v1/messages", "beta=true")


def test_beta_tool_runner_makes_one_request_per_model_turn(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    calls: list[str] = []

    @anthropic.beta_tool
    def weather(city: str) -> str:
        """The weather in a city.

        Args:
            city: The city.
        """
        calls.append(city)
        return "sunny"

    server.enqueue(
        Reply(tool_use=ToolUse(name="weather", input={"city": "Oslo"})),
        Reply(tool_use=ToolUse(name="weather", input={"city": "Rome"})),
        Reply(text="Sunny in both."),
    )

    runner = client.beta.messages.tool_runner(**params(tools=[weather]))
    turns = list(runner)

    assert calls == ["Oslo", "Rome"]
    assert [turn.stop_reason for turn in turns] == ["tool_use", "tool_use", "end_turn"]
    assert len(server.requests) == 3
    last = server.requests[-1].body
    assert isinstance(last, dict)
    assert last["messages"][-1]["content"][0]["type"] == "tool_result"


# Bedrock


@pytest.mark.parametrize(
    "model",
    [BEDROCK_MODEL, f"global.{BEDROCK_MODEL}", f"us.{BEDROCK_MODEL}"],
)
def test_bedrock_invoke_echoes_bedrock_model_names(
    server: FakeAnthropicServer, bedrock: anthropic.AnthropicBedrock, model: str
) -> None:
    server.enqueue(BEYOND_TOKENS)

    message = bedrock.messages.create(**params(model=model))

    assert message.model == model
    assert_beyond_tokens(message.usage)
    [record] = server.requests
    assert (record.path, record.provider, record.model, record.stream) == (
        f"/model/{model}/invoke",
        "bedrock",
        model,
        False,
    )
    assert isinstance(record.body, dict)
    assert "anthropic_version" in record.body
    assert "model" not in record.body
    assert not {"authorization", "x-amz-security-token"} & set(record.headers)


def test_bedrock_stream_is_aws_event_stream_the_sdk_decodes(
    server: FakeAnthropicServer, bedrock: anthropic.AnthropicBedrock
) -> None:
    server.enqueue(BEYOND_TOKENS)

    with bedrock.messages.stream(**params(model=BEDROCK_MODEL)) as stream:
        final = stream.get_final_message()

    assert final.model == BEDROCK_MODEL
    assert final.content[0].type == "text"
    assert final.content[0].text == "Searched twice, fetched once."
    assert_beyond_tokens(final.usage)
    [record] = server.requests
    assert (record.path, record.stream) == (
        f"/model/{BEDROCK_MODEL}/invoke-with-response-stream",
        True,
    )


def test_bedrock_stream_frames_carry_the_headers_and_checksums_aws_sends(
    server: FakeAnthropicServer,
) -> None:
    server.enqueue(Reply(text="Hi there.", input_tokens=7, output_tokens=3))
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 9, "messages": HELLO}

    response = httpx2.post(
        f"{server.url}/model/{BEDROCK_MODEL}/invoke-with-response-stream", json=body
    )
    frames = EventStreamBuffer()  # botocore's decoder: it checks both CRC32s of each frame
    frames.add_data(response.content)
    decoded = list(frames)

    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    assert response.headers["x-amzn-requestid"] == server.requests[0].request_id
    assert {frame.headers[":event-type"] for frame in decoded} == {"chunk"}
    assert {frame.headers[":message-type"] for frame in decoded} == {"event"}
    assert {frame.headers[":content-type"] for frame in decoded} == {"application/json"}
    events = [json.loads(base64.b64decode(json.loads(f.payload)["bytes"])) for f in decoded]
    assert events[0]["type"] == "message_start"
    assert events[-1]["type"] == "message_stop"
    assert events[-1]["amazon-bedrock-invocationMetrics"]["inputTokenCount"] == 7
    assert events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 3


def test_async_bedrock_create_and_stream(server: FakeAnthropicServer) -> None:
    server.enqueue(BEYOND_TOKENS, BEYOND_TOKENS)

    async def call() -> tuple[Message, Message]:
        async with anthropic.AsyncAnthropicBedrock(
            base_url=server.url, aws_access_key="x", aws_secret_key="y", aws_region="us-east-1"
        ) as sdk:
            created = await sdk.messages.create(**params(model=BEDROCK_MODEL))
            async with sdk.messages.stream(**params(model=BEDROCK_MODEL)) as stream:
                return created, await stream.get_final_message()

    created, streamed = asyncio.run(call())

    assert_beyond_tokens(created.usage)
    assert_beyond_tokens(streamed.usage)


@pytest.mark.parametrize(
    ("status", "error_class", "name"),
    [
        (400, anthropic.BadRequestError, "ValidationException"),
        (403, anthropic.PermissionDeniedError, "AccessDeniedException"),
        (429, anthropic.RateLimitError, "ThrottlingException"),
        (500, anthropic.InternalServerError, "InternalServerException"),
        (503, anthropic.InternalServerError, "ServiceUnavailableException"),
    ],
)
def test_bedrock_errors_are_bedrock_bodies_the_sdk_types(
    server: FakeAnthropicServer,
    bedrock: anthropic.AnthropicBedrock,
    status: int,
    error_class: type[Exception],
    name: str,
) -> None:
    server.enqueue(Fail(status=status))

    with pytest.raises(error_class) as caught:
        bedrock.messages.create(**params(model=BEDROCK_MODEL))

    error = caught.value
    assert isinstance(error, anthropic.APIStatusError)
    assert error.status_code == status
    assert isinstance(error.body, dict)
    assert set(error.body) == {"message"}
    assert error.response.headers["x-amzn-errortype"].startswith(f"{name}:")


def test_bedrock_throttling_with_retry_after_then_success_is_two_attempts(
    server: FakeAnthropicServer, bedrock: anthropic.AnthropicBedrock
) -> None:
    server.enqueue(Fail(status=429, retry_after_s=0.01), Reply(text="Done."))

    message = bedrock.with_options(max_retries=1).messages.create(**params(model=BEDROCK_MODEL))

    assert message.content[0].type == "text"
    assert message.content[0].text == "Done."
    assert [record.status for record in server.requests] == [429, 200]


def test_bedrock_stream_failing_midway_is_an_exception_frame(
    server: FakeAnthropicServer, bedrock: anthropic.AnthropicBedrock
) -> None:
    server.enqueue(FailMidStream(error_type="rate_limit_error", message="Slow down"))

    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        bedrock.messages.stream(**params(model=BEDROCK_MODEL)) as stream,
    ):
        stream.get_final_message()

    assert caught.value.body == {
        "type": "error",
        "error": {"type": "throttlingException", "message": "Slow down"},
    }


def test_bedrock_request_without_anthropic_version_is_a_validation_error(
    server: FakeAnthropicServer,
) -> None:
    body = {"max_tokens": 9, "messages": HELLO}

    response = httpx2.post(f"{server.url}/model/{BEDROCK_MODEL}/invoke", json=body)

    assert response.status_code == 400
    assert response.json() == {"message": "anthropic_version: Field required"}
    assert response.headers["x-amzn-errortype"].startswith("ValidationException:")


# Vertex


def test_vertex_raw_predict_and_stream_raw_predict(
    server: FakeAnthropicServer, vertex: anthropic.AnthropicVertex
) -> None:
    server.enqueue(BEYOND_TOKENS, BEYOND_TOKENS)
    sdk = vertex

    created = sdk.messages.create(**params(model=VERTEX_MODEL))
    with sdk.messages.stream(**params(model=VERTEX_MODEL)) as stream:
        final = stream.get_final_message()
    counted = sdk.messages.count_tokens(model=VERTEX_MODEL, messages=HELLO)

    assert created.model == final.model == VERTEX_MODEL
    assert_beyond_tokens(created.usage)
    assert_beyond_tokens(final.usage)
    assert counted.input_tokens > 0
    base = "/projects/p/locations/us-east5/publishers/anthropic/models"
    assert [(r.path, r.provider, r.model) for r in server.requests] == [
        (f"{base}/{VERTEX_MODEL}:rawPredict", "vertex", VERTEX_MODEL),
        (f"{base}/{VERTEX_MODEL}:streamRawPredict", "vertex", VERTEX_MODEL),
        (f"{base}/count-tokens:rawPredict", "vertex", VERTEX_MODEL),
    ]


def test_async_vertex_stream_and_errors(server: FakeAnthropicServer) -> None:
    server.enqueue(Fail(status=529), BEYOND_TOKENS)

    async def call() -> Message:
        async with anthropic.AsyncAnthropicVertex(
            base_url=server.url, region="us-east5", project_id="p", access_token="t"
        ) as sdk:
            with pytest.raises(anthropic.OverloadedError):
                await sdk.with_options(max_retries=0).messages.create(**params(model=VERTEX_MODEL))
            async with sdk.messages.stream(**params(model=VERTEX_MODEL)) as stream:
                return await stream.get_final_message()

    assert_beyond_tokens(asyncio.run(call()).usage)


# Foundry and the clients that speak the first-party shapes


FirstPartyFactory = Callable[[str], Any]
FIRST_PARTY_CLIENTS: dict[str, tuple[FirstPartyFactory, str]] = {
    "foundry": (
        lambda url: anthropic.AnthropicFoundry(base_url=f"{url}/anthropic/", api_key="k"),
        "/anthropic/v1/messages",
    ),
    "aws": (
        lambda url: anthropic.AnthropicAWS(
            base_url=url, api_key="k", aws_region="us-east-1", workspace_id="w"
        ),
        "/v1/messages",
    ),
    "bedrock_mantle": (
        lambda url: anthropic.AnthropicBedrockMantle(
            base_url=url, api_key="k", aws_region="us-east-1"
        ),
        "/v1/messages",
    ),
    "google_cloud": (
        lambda url: anthropic.AnthropicGoogleCloud(
            base_url=url, token_provider=lambda: "t", project="p", location="us-east5"
        ),
        "/v1/messages",
    ),
}


@pytest.mark.parametrize("name", sorted(FIRST_PARTY_CLIENTS))
def test_other_clients_get_first_party_answers_on_their_paths(
    server: FakeAnthropicServer, name: str
) -> None:
    factory, path = FIRST_PARTY_CLIENTS[name]
    server.enqueue(BEYOND_TOKENS, BEYOND_TOKENS)
    with factory(server.url) as sdk:
        created = sdk.messages.create(**params())
        with sdk.messages.stream(**params()) as stream:
            final = stream.get_final_message()

    assert_beyond_tokens(created.usage)
    assert_beyond_tokens(final.usage)
    assert [(r.path, r.provider) for r in server.requests] == [(path, "anthropic")] * 2
    assert not {"x-api-key", "api-key", "authorization"} & set(server.requests[0].headers)


# Message Batches


def batch_requests(*custom_ids: str, **overrides: object) -> list[Any]:
    return [{"custom_id": custom_id, "params": params(**overrides)} for custom_id in custom_ids]


def test_batch_ends_at_once_and_every_request_succeeds_at_the_batch_tier(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    created = client.messages.batches.create(requests=batch_requests("a", "b"))
    retrieved = client.messages.batches.retrieve(created.id)
    results = {line.custom_id: line.result for line in client.messages.batches.results(created.id)}

    assert created.id.startswith("msgbatch_01")
    assert created.processing_status == "in_progress"
    assert created.request_counts.processing == 2
    assert retrieved.processing_status == "ended"
    assert retrieved.ended_at is not None
    assert (retrieved.request_counts.succeeded, retrieved.request_counts.processing) == (2, 0)
    assert retrieved.results_url == f"{server.url}/v1/messages/batches/{created.id}/results"
    assert set(results) == {"a", "b"}
    messages = [result.message for result in results.values() if result.type == "succeeded"]
    assert len(messages) == 2
    assert {message.usage.service_tier for message in messages} == {"batch"}
    assert {message.model for message in messages} == {MODEL}
    assert messages[0].id != messages[1].id
    assert [(r.method, r.path) for r in server.requests][:2] == [
        ("POST", "/v1/messages/batches"),
        ("GET", f"/v1/messages/batches/{created.id}"),
    ]


def test_scripted_batch_outcomes_by_custom_id(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    server.enqueue(
        Batch(
            outcomes={
                "ok": BEYOND_TOKENS,
                "overloaded": Fail(status=529),
                "late": "expired",
                "stopped": "canceled",
            },
            default=Reply(text="Default.", input_tokens=3, output_tokens=2),
        )
    )
    ids = ("ok", "overloaded", "late", "stopped", "other")

    created = client.messages.batches.create(requests=batch_requests(*ids))
    counts = client.messages.batches.retrieve(created.id).request_counts
    results = {line.custom_id: line.result for line in client.messages.batches.results(created.id)}

    assert (counts.succeeded, counts.errored, counts.expired, counts.canceled) == (2, 1, 1, 1)
    ok = results["ok"]
    assert ok.type == "succeeded"
    assert_beyond_tokens(ok.message.usage)
    overloaded = results["overloaded"]
    assert overloaded.type == "errored"
    assert overloaded.error.error.type == "overloaded_error"
    assert [results[i].type for i in ("late", "stopped")] == ["expired", "canceled"]
    other = results["other"]
    assert other.type == "succeeded"
    assert other.message.usage.service_tier == "batch"
    assert other.message.content[0].type == "text"
    assert other.message.content[0].text == "Default."
    assert server.requests[0].step is not None


def test_invalid_params_error_their_request_and_not_the_batch(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    requests = [*batch_requests("good"), {"custom_id": "bad", "params": {"model": MODEL}}]

    created = client.messages.batches.create(requests=requests)
    results = {line.custom_id: line.result for line in client.messages.batches.results(created.id)}

    assert results["good"].type == "succeeded"
    bad = results["bad"]
    assert bad.type == "errored"
    assert bad.error.error.type == "invalid_request_error"
    assert bad.error.error.message.startswith("messages: Field required")


def test_batch_in_progress_then_cancelled_keeps_only_scripted_results(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    server.enqueue(Batch(outcomes={"done": Reply(text="Made it.")}, polls_in_progress=3))
    batches = client.messages.batches

    created = batches.create(requests=batch_requests("done", "dropped"))
    polled = batches.retrieve(created.id)
    with pytest.raises(anthropic.AnthropicError, match="finished processing"):
        batches.results(created.id)
    cancelling = batches.cancel(created.id)
    ended = batches.retrieve(created.id)
    results = {line.custom_id: line.result.type for line in batches.results(created.id)}

    assert polled.processing_status == "in_progress"
    assert polled.results_url is None
    assert cancelling.processing_status == "canceling"
    assert cancelling.cancel_initiated_at is not None
    assert ended.processing_status == "ended"
    assert (ended.request_counts.succeeded, ended.request_counts.canceled) == (1, 1)
    assert results == {"done": "succeeded", "dropped": "canceled"}


def test_batch_list_pages_newest_first_and_delete_forgets(
    server: FakeAnthropicServer, client: anthropic.Anthropic
) -> None:
    created = [client.messages.batches.create(requests=batch_requests("x")).id for _ in range(3)]
    server.enqueue(Batch(polls_in_progress=5))
    busy = client.messages.batches.create(requests=batch_requests("y")).id

    first_page = client.messages.batches.list(limit=2)
    listed = [batch.id for batch in client.messages.batches.list(limit=2)]
    with pytest.raises(anthropic.BadRequestError, match="processing"):
        client.messages.batches.delete(busy)
    deleted = client.messages.batches.delete(created[0])
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(created[0])

    assert [batch.id for batch in first_page.data] == [busy, created[2]]
    assert first_page.has_more
    assert listed == [busy, *reversed(created)]
    assert (deleted.id, deleted.type) == (created[0], "message_batch_deleted")


def test_batch_timestamps_run_on_the_injected_wall_clock() -> None:
    now = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    with (
        FakeAnthropicServer(wall_clock=lambda: now) as fake,
        anthropic.Anthropic(base_url=fake.url, api_key="k") as sdk,
    ):
        created = sdk.messages.batches.create(requests=batch_requests("a"))
        ended = sdk.messages.batches.retrieve(created.id)

    assert created.created_at.isoformat() == "2026-01-01T00:00:00+00:00"
    assert (created.expires_at - created.created_at).total_seconds() == 24 * 3600
    assert ended.ended_at == created.created_at


def test_malformed_batches_are_rejected_with_400(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="not unique"):
        client.messages.batches.create(requests=batch_requests("a", "a"))
    with pytest.raises(anthropic.BadRequestError, match="custom_id"):
        client.messages.batches.create(requests=batch_requests("no spaces"))
    with pytest.raises(anthropic.BadRequestError, match="1 to"):
        client.messages.batches.create(requests=[])


def test_beta_and_async_batches_and_a_prefixed_base_url(server: FakeAnthropicServer) -> None:
    async def call() -> list[str]:
        async with anthropic.AsyncAnthropic(base_url=server.url, api_key="k") as sdk:
            batch = await sdk.beta.messages.batches.create(requests=batch_requests("a"))
            assert isinstance(batch, BetaMessageBatch)
            lines = await sdk.beta.messages.batches.results(batch.id)
            return [line.result.type async for line in lines]

    assert asyncio.run(call()) == ["succeeded"]

    # AnthropicFoundry has no batches; a gateway's prefix is what it would add.
    with anthropic.Anthropic(base_url=f"{server.url}/anthropic", api_key="k") as prefixed:
        created = prefixed.messages.batches.create(requests=batch_requests("f"))
        ended = prefixed.messages.batches.retrieve(created.id)
        results = [line.custom_id for line in prefixed.messages.batches.results(created.id)]
    assert ended.results_url == f"{server.url}/anthropic/v1/messages/batches/{created.id}/results"
    assert results == ["f"]
