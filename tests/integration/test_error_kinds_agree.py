"""The classifier, the tracer's kind reader and the breaker's fallback agree on every error.

One table (``agentguard.errorkinds``) decides for all three; each case here is a real HTTP
error of the fake Messages API raised by the real SDK (``max_retries=0``). The tracer is read
as users see it (``LLMCallFinished.error_kind`` of an instrumented client), with and without
``agentguard-classify``; the breaker's fallback is what a ``CircuitBreaker`` counts when
``agentguard-classify`` is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from agentguard import Bus
from agentguard.errorkinds import CODE_KINDS, STATUS_KINDS, TYPE_KINDS, ErrorKind, exception_kind
from agentguard.events import LLMCallFinished
from agentguard.testing import FakeClock, capture_events
from agentguard_breaker import CircuitBreaker
from agentguard_breaker._faults import builtin_is_provider_fault
from agentguard_classify import classify, is_provider_fault
from agentguard_fake import Fail, FailMidStream, FakeAnthropicServer
from agentguard_trace import _errors, instrument

MODEL = "claude-sonnet-4-6"
MESSAGES: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Hello"}]
K = ErrorKind

# Every status of the table with the error.type the API sends with it (the fake's default).
_BY_STATUS = [(Fail(status=status), kind) for status, kind in STATUS_KINDS.items()]
# Every error.type, with a status the table does not know, so the type decides.
_BY_TYPE = [(Fail(status=418, error_type=t), kind) for t, kind in TYPE_KINDS.items()]
# Every error_code, on the status the API sends it with, and the spend limits' 429s.
_BY_CODE = [
    (Fail(status=429 if "spend" in code or "ramp" in code else 400, error_code=code), kind)
    for code, kind in CODE_KINDS.items()
]
_SPEND_LIMITS = [
    (Fail(status=429, error_code="enforced_spend_limit_reached"), K.SPEND_LIMITED),
    (Fail(status=429, error_code="contract_spend_limit_reached"), K.SPEND_LIMITED),
    (Fail(status=429, error_code="workspace_spend_limit_reached"), K.SPEND_LIMITED),
    (Fail(status=402, error_code="linked_organization_spend_limit_reached"), K.SPEND_LIMITED),
    (Fail(status=402), K.SPEND_LIMITED),
    (Fail(status=429, error_code="some_new_code"), K.RATE_LIMITED),
    (Fail(status=418, error_type="teapot_error"), K.INVALID_REQUEST),
    (Fail(status=507), K.SERVER_ERROR),
    (Fail.prompt_too_long(), K.CONTEXT_WINDOW_EXCEEDED),
]
CASES = _BY_STATUS + _BY_TYPE + _BY_CODE + _SPEND_LIMITS


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(seed=7) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeAnthropicServer) -> FakeAnthropicServer:
    server.reset()
    return server


@pytest.fixture(params=[True, False], ids=["with-classify", "table-only"])
def classifier_installed(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """The tracer as with and without ``agentguard-classify`` installed."""
    installed: bool = request.param
    if not installed:
        monkeypatch.setattr(_errors, "_classify", lambda: None)
    return installed


def _case_id(case: tuple[Fail, ErrorKind]) -> str:
    step, kind = case
    extra = step.error_code or (step.error_type if step.error_type else "")
    return f"{step.status}-{extra or 'default'}-{kind.value}"


@pytest.mark.parametrize(("step", "kind"), CASES, ids=[_case_id(c) for c in CASES])
def test_every_status_type_and_code(
    fake: FakeAnthropicServer, classifier_installed: bool, step: Fail, kind: ErrorKind
) -> None:
    bus = Bus()
    fake.enqueue(step)
    with (
        anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0) as raw,
        capture_events(bus, to=LLMCallFinished) as events,
        pytest.raises(anthropic.APIStatusError) as caught,
    ):
        instrument(raw, bus=bus).messages.create(model=MODEL, max_tokens=8, messages=MESSAGES)
    exc = caught.value
    assert classify(exc).kind is kind, "the classifier"
    assert exception_kind(exc) is kind, "the table's own reading"
    [call] = events.of(LLMCallFinished)
    assert (call.ok, call.error_kind) == (False, kind.value), "the tracer"
    assert builtin_is_provider_fault(exc) is kind.provider_fault, "the breaker's fallback"
    assert is_provider_fault(exc) is kind.provider_fault


@pytest.mark.parametrize("error_type", sorted(TYPE_KINDS))
def test_an_error_inside_a_stream(
    fake: FakeAnthropicServer, classifier_installed: bool, error_type: str
) -> None:
    bus = Bus()
    fake.enqueue(FailMidStream(after_deltas=1, error_type=error_type, message="midway"))
    with (
        anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0) as raw,
        capture_events(bus, to=LLMCallFinished) as events,
    ):
        stream = instrument(raw, bus=bus).messages.create(
            model=MODEL, max_tokens=8, messages=MESSAGES, stream=True
        )
        with pytest.raises(anthropic.APIStatusError) as caught:
            list(stream)
    kind = TYPE_KINDS[error_type]
    assert classify(caught.value).kind is kind
    assert exception_kind(caught.value) is kind
    [call] = events.of(LLMCallFinished)
    assert call.error_kind == kind.value
    assert builtin_is_provider_fault(caught.value) is kind.provider_fault


def test_spend_limit_429s_never_open_the_breaker_without_the_classifier(
    fake: FakeAnthropicServer,
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        "anthropic",
        fail_max=2,
        bus=Bus(),
        clock=clock.monotonic,
        is_failure=builtin_is_provider_fault,
    )
    guarded = breaker(_ask)
    with anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0) as client:
        for _ in range(3):
            fake.enqueue(Fail(status=429, error_code="enforced_spend_limit_reached"))
            with pytest.raises(anthropic.EnforcedSpendLimitReachedError):
                guarded(client)
        assert (breaker.state, breaker.failure_count) == ("closed", 0)
        for _ in range(2):
            fake.enqueue(Fail(status=429, retry_after_s=0.01))
            with pytest.raises(anthropic.RateLimitError):
                guarded(client)
    assert breaker.state == "open", "a rate limit is the provider's fault; it counts"


def _ask(client: anthropic.Anthropic) -> None:
    client.messages.create(model=MODEL, max_tokens=8, messages=MESSAGES)
