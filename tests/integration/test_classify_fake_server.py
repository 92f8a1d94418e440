"""The classifier on what the real anthropic SDK raises for every scripted error of the
project's fake Messages API server (``max_retries=0``, so each error reaches the caller)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import anthropic
import pytest

from agentguard import Bus
from agentguard.events import ErrorClassified
from agentguard.testing import capture_events
from agentguard_classify import ErrorKind, classified, classify, is_provider_fault
from agentguard_fake import Delay, Fail, FailMidStream, FakeAnthropicServer, Reply

MODEL = "claude-sonnet-4-6"
MESSAGES: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Hello"}]
K = ErrorKind


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(seed=5) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeAnthropicServer) -> FakeAnthropicServer:
    server.reset()
    return server


@pytest.fixture
def client(fake: FakeAnthropicServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake.url, api_key="test-key", max_retries=0) as sdk:
        yield sdk


def _raised(client: anthropic.Anthropic) -> BaseException:
    with pytest.raises(anthropic.APIError) as caught:
        client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    return caught.value


# the scripted step, the class the SDK raises, kind, retryable, retry_after_s
SCRIPTED = [
    (Fail(status=400), "BadRequestError", K.INVALID_REQUEST, False, None),
    (Fail.prompt_too_long(), "BadRequestError", K.CONTEXT_WINDOW_EXCEEDED, False, None),
    (Fail(status=401), "AuthenticationError", K.AUTH, False, None),
    (Fail(status=402), "PaymentRequiredError", K.SPEND_LIMITED, False, None),
    (Fail(status=403), "PermissionDeniedError", K.PERMISSION, False, None),
    (Fail(status=404), "NotFoundError", K.NOT_FOUND, False, None),
    (Fail(status=413), "ContentTooLargeError", K.REQUEST_TOO_LARGE, False, None),
    (Fail(status=429, retry_after_s=2), "RateLimitError", K.RATE_LIMITED, True, 2.0),
    (Fail(status=429, retry_after_s=0.25), "RateLimitError", K.RATE_LIMITED, True, 0.25),
    (
        Fail(status=429, error_code="enforced_spend_limit_reached", should_retry=False),
        "EnforcedSpendLimitReachedError",
        K.SPEND_LIMITED,
        False,
        None,
    ),
    (
        Fail(status=429, error_code="contract_spend_limit_reached"),
        "ContractSpendLimitReachedError",
        K.SPEND_LIMITED,
        False,
        None,
    ),
    (Fail(status=500), "InternalServerError", K.SERVER_ERROR, True, None),
    (Fail(status=500, should_retry=False), "InternalServerError", K.SERVER_ERROR, False, None),
    (Fail(status=503), "ServiceUnavailableError", K.SERVER_ERROR, True, None),
    (Fail(status=504), "GatewayTimeoutError", K.TIMEOUT, True, None),
    (Fail(status=529), "OverloadedError", K.OVERLOADED, True, None),
    (FailMidStream(), "OverloadedError", K.OVERLOADED, True, None),
]


@pytest.mark.parametrize(
    ("step", "class_name", "kind", "retryable", "retry_after_s"),
    SCRIPTED,
    ids=[f"{step!r}"[:60] for step, *_ in SCRIPTED],
)
def test_every_scripted_error(
    fake: FakeAnthropicServer,
    client: anthropic.Anthropic,
    step: Fail | FailMidStream,
    class_name: str,
    kind: ErrorKind,
    retryable: bool,
    retry_after_s: float | None,
) -> None:
    fake.enqueue(step)
    exc = _raised(client)
    assert type(exc).__name__ == class_name
    result = classify(exc)
    assert (result.kind, result.retryable, result.retry_after_s) == (kind, retryable, retry_after_s)
    status = step.status if isinstance(step, Fail) else 529
    assert result.status_code == status
    assert result.exception_type.startswith("anthropic.")
    assert is_provider_fault(exc) is kind.provider_fault
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", K.OVERLOADED),
        ("rate_limit_error", K.RATE_LIMITED),
        ("api_error", K.SERVER_ERROR),
    ],
)
def test_an_error_in_the_middle_of_a_stream(
    fake: FakeAnthropicServer, client: anthropic.Anthropic, error_type: str, kind: ErrorKind
) -> None:
    fake.enqueue(FailMidStream(after_deltas=2, error_type=error_type, message="midway"))
    stream = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True)
    with pytest.raises(anthropic.APIStatusError) as caught:
        for _ in stream:
            pass
    assert caught.value.status_code == 200, "the SDK raises with the stream's 200"
    result = classify(caught.value)
    assert (result.kind, result.retryable, result.status_code) == (kind, True, None)


def test_a_client_timeout(fake: FakeAnthropicServer) -> None:
    fake.enqueue(Delay(seconds=0.5), Reply(text="late"))
    with anthropic.Anthropic(
        base_url=fake.url, api_key="test-key", max_retries=0, timeout=0.1
    ) as client:
        exc = _raised(client)
    assert isinstance(exc, anthropic.APITimeoutError)
    result = classify(exc)
    assert (result.kind, result.retryable, result.provider_fault) == (K.TIMEOUT, True, True)


def test_nobody_listening(unused_port: int) -> None:
    with anthropic.Anthropic(
        base_url=f"http://127.0.0.1:{unused_port}", api_key="test-key", max_retries=0
    ) as client:
        exc = _raised(client)
    assert type(exc) is anthropic.APIConnectionError
    assert classify(exc).kind is ErrorKind.CONNECTION


def test_classified_around_an_async_call_publishes_what_the_sdk_raised(
    fake: FakeAnthropicServer,
) -> None:
    bus = Bus()
    fake.enqueue(Fail(status=429, retry_after_s=3))

    @classified(source="llm", bus=bus)
    async def ask() -> None:
        async with anthropic.AsyncAnthropic(
            base_url=fake.url, api_key="test-key", max_retries=0
        ) as client:
            await client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)

    with capture_events(bus, to=ErrorClassified) as events, pytest.raises(anthropic.RateLimitError):
        asyncio.run(ask())
    [event] = events.of(ErrorClassified)
    assert (event.source, event.error_kind, event.retryable) == ("llm", "rate_limited", True)
    assert (event.status_code, event.retry_after_s) == (429, 3.0)
    assert event.exception_type == "anthropic.RateLimitError"
