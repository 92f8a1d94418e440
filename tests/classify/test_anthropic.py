"""The anthropic SDK's exceptions, built as the SDK builds them from real error responses."""

from __future__ import annotations

import importlib

import anthropic
import httpx2
import pytest
from anthropic._error_classes import ERROR_CLASSES

from agentguard_classify import Classifier, ErrorKind, classify, is_provider_fault
from agentguard_classify.kinds import ErrorKind as K

from .conftest import ApiError

REQUEST = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
PROMPT_TOO_LONG = "prompt is too long: 250000 tokens > 200000 maximum"

# status, error.type, message, error_code, class the SDK picks, kind, retryable
TABLE = [
    (
        400,
        "invalid_request_error",
        "Invalid request.",
        None,
        "BadRequestError",
        K.INVALID_REQUEST,
        False,
    ),
    (
        400,
        "invalid_request_error",
        PROMPT_TOO_LONG,
        None,
        "BadRequestError",
        K.CONTEXT_WINDOW_EXCEEDED,
        False,
    ),
    (
        400,
        "invalid_request_error",
        "too big",
        "image_dimensions_too_large",
        "ImageDimensionsTooLargeError",
        K.INVALID_REQUEST,
        False,
    ),
    (401, "authentication_error", "invalid x-api-key", None, "AuthenticationError", K.AUTH, False),
    (
        402,
        "billing_error",
        "Your credit balance is too low",
        None,
        "PaymentRequiredError",
        K.SPEND_LIMITED,
        False,
    ),
    (
        402,
        "billing_error",
        "limit",
        "linked_organization_spend_limit_reached",
        "LinkedOrganizationSpendLimitReachedError",
        K.SPEND_LIMITED,
        False,
    ),
    (403, "permission_error", "no", None, "PermissionDeniedError", K.PERMISSION, False),
    (404, "not_found_error", "model: claude-nope", None, "NotFoundError", K.NOT_FOUND, False),
    (404, "not_found_error", "expired", "file_expired", "FileExpiredError", K.NOT_FOUND, False),
    (408, "timeout_error", "Request timed out", None, "RequestTimeoutError", K.TIMEOUT, True),
    (409, "conflict_error", "conflict", None, "ConflictError", K.INVALID_REQUEST, True),
    (
        412,
        "invalid_request_error",
        "precondition",
        None,
        "PreconditionFailedError",
        K.INVALID_REQUEST,
        False,
    ),
    (
        413,
        "request_too_large",
        "Request exceeds the maximum size",
        None,
        "ContentTooLargeError",
        K.REQUEST_TOO_LARGE,
        False,
    ),
    (
        422,
        "invalid_request_error",
        "unprocessable",
        None,
        "UnprocessableEntityError",
        K.INVALID_REQUEST,
        False,
    ),
    (429, "rate_limit_error", "rate limit", None, "RateLimitError", K.RATE_LIMITED, True),
    (
        429,
        "rate_limit_error",
        "spend",
        "enforced_spend_limit_reached",
        "EnforcedSpendLimitReachedError",
        K.SPEND_LIMITED,
        False,
    ),
    (
        429,
        "rate_limit_error",
        "spend",
        "contract_spend_limit_reached",
        "ContractSpendLimitReachedError",
        K.SPEND_LIMITED,
        False,
    ),
    (
        429,
        "rate_limit_error",
        "ramp",
        "ramp_limit_exceeded",
        "RampLimitExceededError",
        K.RATE_LIMITED,
        True,
    ),
    (
        431,
        "invalid_request_error",
        "headers",
        None,
        "RequestHeaderFieldsTooLargeError",
        K.REQUEST_TOO_LARGE,
        False,
    ),
    (499, "invalid_request_error", "closed", None, "ClientClosedRequestError", K.CANCELLED, False),
    (500, "api_error", "Internal server error", None, "InternalServerError", K.SERVER_ERROR, True),
    (501, "api_error", "not implemented", None, "HTTPNotImplementedError", K.SERVER_ERROR, False),
    (502, "api_error", "bad gateway", None, "InternalServerError", K.SERVER_ERROR, True),
    (503, "api_error", "unavailable", None, "ServiceUnavailableError", K.SERVER_ERROR, True),
    (504, "timeout_error", "Request timed out", None, "GatewayTimeoutError", K.TIMEOUT, True),
    (529, "overloaded_error", "Overloaded", None, "OverloadedError", K.OVERLOADED, True),
    (
        529,
        "overloaded_error",
        "busy",
        "compaction_unavailable",
        "CompactionUnavailableError",
        K.OVERLOADED,
        True,
    ),
    (418, "invalid_request_error", "teapot", None, "APIStatusError", K.INVALID_REQUEST, False),
]


@pytest.mark.parametrize(
    ("status", "error_type", "message", "code", "class_name", "kind", "retryable"), TABLE
)
def test_the_sdk_error_for_each_response_is_classified(
    api_error: ApiError,
    status: int,
    error_type: str,
    message: str,
    code: str | None,
    class_name: str,
    kind: ErrorKind,
    retryable: bool,
) -> None:
    exc = api_error(status, error_type, message, error_code=code)
    assert type(exc).__name__ == class_name, "the SDK picked another class than expected"
    result = classify(exc)
    assert (result.kind, result.retryable) == (kind, retryable)
    assert result.status_code == status
    module, _, name = result.exception_type.rpartition(".")
    assert module in ("anthropic", "anthropic.types"), "named by a public path"
    assert getattr(importlib.import_module(module), name) is type(exc)
    assert result.retry_after_s is None


@pytest.mark.parametrize(
    "name",
    [
        "OverloadedError",
        "ContentTooLargeError",
        "PaymentRequiredError",
        "GatewayTimeoutError",
        "ServiceUnavailableError",
        "EnforcedSpendLimitReachedError",
        "ContractSpendLimitReachedError",
    ],
)
def test_the_classes_the_design_names_exist_in_the_installed_sdk(name: str) -> None:
    assert issubclass(getattr(anthropic, name), anthropic.APIStatusError)


@pytest.mark.parametrize(("key", "cls"), sorted(ERROR_CLASSES.items(), key=str), ids=str)
def test_every_class_the_sdk_maps_a_response_to(
    api_error: ApiError, key: tuple[int, str | None], cls: type[anthropic.APIStatusError]
) -> None:
    status, code = key
    exc = api_error(
        status, "api_error" if status >= 500 else "invalid_request_error", "m", error_code=code
    )
    assert type(exc) is cls
    result = classify(exc)
    assert result.status_code == status
    assert result.kind is not ErrorKind.UNKNOWN
    if code is not None and code.endswith("spend_limit_reached"):
        assert (result.kind, result.retryable) == (ErrorKind.SPEND_LIMITED, False)
    if status >= 500:
        assert result.provider_fault, "a 5xx is the provider's fault"
    elif status not in (408, 429):
        assert not result.provider_fault, "a 4xx request error must never trip a breaker"
        assert not is_provider_fault(exc)


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", K.OVERLOADED),
        ("rate_limit_error", K.RATE_LIMITED),
        ("api_error", K.SERVER_ERROR),
        ("timeout_error", K.TIMEOUT),
        ("invalid_request_error", K.INVALID_REQUEST),
        ("something_new_error", K.UNKNOWN),
    ],
)
def test_an_error_event_inside_a_stream_is_classified_by_its_type(
    api_error: ApiError, error_type: str, kind: ErrorKind
) -> None:
    exc = api_error(200, error_type, "Overloaded")
    assert type(exc) is anthropic.APIStatusError
    assert exc.status_code == 200
    result = classify(exc)
    assert result.kind is kind
    assert result.status_code is None, "the stream's 200 says nothing about the error"
    assert result.retryable is kind.retryable_by_default


def test_an_error_code_outranks_the_message_text(api_error: ApiError) -> None:
    exc = api_error(400, "invalid_request_error", PROMPT_TOO_LONG, error_code="tool_name_conflict")
    assert classify(exc).kind is ErrorKind.INVALID_REQUEST


def test_a_context_window_error_code_needs_no_message(api_error: ApiError) -> None:
    exc = api_error(400, "invalid_request_error", "whatever", error_code="prompt_too_long")
    assert classify(exc).kind is ErrorKind.CONTEXT_WINDOW_EXCEEDED


def test_a_new_spend_limit_code_is_a_spend_limit(api_error: ApiError) -> None:
    exc = api_error(429, "rate_limit_error", "m", error_code="team_spend_limit_reached")
    assert type(exc) is anthropic.RateLimitError
    assert (classify(exc).kind, classify(exc).retryable) == (ErrorKind.SPEND_LIMITED, False)


def test_retry_after_comes_from_the_response_headers(api_error: ApiError) -> None:
    result = classify(api_error(429, "rate_limit_error", headers={"retry-after": "7"}))
    assert result.retry_after_s == 7.0
    result = classify(
        api_error(529, "overloaded_error", headers={"retry-after-ms": "1500", "retry-after": "9"})
    )
    assert result.retry_after_s == 1.5


@pytest.mark.parametrize(
    ("status", "error_type", "code", "header", "retryable"),
    [
        (500, "api_error", None, "false", False),
        (400, "invalid_request_error", None, "true", True),
        (429, "rate_limit_error", "enforced_spend_limit_reached", "true", False),
        (429, "rate_limit_error", None, "false", False),
    ],
)
def test_the_servers_x_should_retry_decides_except_for_spend_limits(
    api_error: ApiError,
    status: int,
    error_type: str,
    code: str | None,
    header: str,
    retryable: bool,
) -> None:
    exc = api_error(status, error_type, error_code=code, headers={"x-should-retry": header})
    assert classify(exc).retryable is retryable


class TestWhatAnOlderSdkRaises:
    """anthropic 1.0 lacks the subclasses; the status, error_code and body still tell."""

    def _response(self, status: int, body: object) -> httpx2.Response:
        return httpx2.Response(status, request=REQUEST, json=body)

    def test_a_spend_limit_raised_as_a_plain_rate_limit_error(self) -> None:
        body = {
            "error": {
                "type": "rate_limit_error",
                "details": {"error_code": "enforced_spend_limit_reached"},
            }
        }
        exc = anthropic.RateLimitError("m", response=self._response(429, body), body=body)
        assert classify(exc).kind is ErrorKind.SPEND_LIMITED

    def test_a_529_raised_as_an_internal_server_error(self) -> None:
        body = {"error": {"type": "overloaded_error", "message": "Overloaded"}}
        exc = anthropic.InternalServerError("m", response=self._response(529, body), body=body)
        assert classify(exc).kind is ErrorKind.OVERLOADED

    def test_errors_without_type_and_error_code_attributes_are_read_from_the_body(self) -> None:
        body = {
            "error": {
                "type": "overloaded_error",
                "details": {"error_code": "x_spend_limit_reached"},
            }
        }
        exc = anthropic.APIStatusError("m", response=self._response(200, body), body=body)
        del exc.type, exc.error_code
        assert classify(exc).kind is ErrorKind.SPEND_LIMITED
        body = {"error": {"type": "overloaded_error"}}
        exc = anthropic.APIStatusError("m", response=self._response(200, body), body=body)
        del exc.type, exc.error_code, exc.api_message
        assert classify(exc).kind is ErrorKind.OVERLOADED

    def test_a_context_window_400_without_api_message_reads_the_body(self) -> None:
        body = {"error": {"type": "invalid_request_error", "message": PROMPT_TOO_LONG}}
        exc = anthropic.BadRequestError("m", response=self._response(400, body), body=body)
        del exc.api_message
        assert classify(exc).kind is ErrorKind.CONTEXT_WINDOW_EXCEEDED


@pytest.mark.parametrize(
    ("exc", "kind", "retryable"),
    [
        (anthropic.APITimeoutError(REQUEST), K.TIMEOUT, True),
        (anthropic.APIConnectionError(request=REQUEST), K.CONNECTION, True),
        (anthropic.CredentialsError("no key"), K.AUTH, False),
        (anthropic.AnthropicError("?"), K.UNKNOWN, False),
        (anthropic.APIError("?", REQUEST, body=None), K.UNKNOWN, False),
        (anthropic.RetryableError("again"), K.UNKNOWN, True),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_the_sdks_other_exceptions(exc: BaseException, kind: ErrorKind, retryable: bool) -> None:
    result = classify(exc)
    assert (result.kind, result.retryable, result.status_code) == (kind, retryable, None)


def test_identity_token_file_error_is_an_auth_error() -> None:
    assert classify(anthropic.IdentityTokenFileError("missing")).kind is ErrorKind.AUTH


def test_a_response_validation_error_is_unknown_with_its_status() -> None:
    response = httpx2.Response(200, request=REQUEST, json={})
    result = classify(anthropic.APIResponseValidationError(response, body={}))
    assert result.kind is ErrorKind.UNKNOWN
    assert result.status_code is None


def test_an_http_date_retry_after_is_measured_against_the_injected_clock(
    api_error: ApiError,
) -> None:
    now = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
    classifier = Classifier(clock=lambda: now)
    exc = api_error(
        429, "rate_limit_error", headers={"retry-after": "Thu, 01 Jan 2026 00:00:30 GMT"}
    )
    assert classifier.classify(exc).retry_after_s == 30.0
