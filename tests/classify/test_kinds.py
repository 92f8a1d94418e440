"""The closed ErrorKind enum and the provider-fault predicate."""

from __future__ import annotations

import pytest

from agentguard_classify import Classification, ErrorKind, is_provider_fault

from .conftest import ApiError

KINDS = [
    "rate_limited",
    "spend_limited",
    "overloaded",
    "server_error",
    "timeout",
    "connection",
    "auth",
    "permission",
    "not_found",
    "request_too_large",
    "context_window_exceeded",
    "invalid_request",
    "tool_error",
    "cancelled",
    "unknown",
]
PROVIDER_FAULTS = {"rate_limited", "overloaded", "server_error", "timeout", "connection"}


def test_the_kinds_are_exactly_the_agreed_strings() -> None:
    assert [kind.value for kind in ErrorKind] == KINDS
    assert all(kind.value == kind.name.lower() for kind in ErrorKind)
    assert issubclass(ErrorKind, str)
    assert all(str(kind) == kind.value for kind in ErrorKind)
    assert ErrorKind("rate_limited") is ErrorKind.RATE_LIMITED


def test_provider_faults_and_retryable_defaults() -> None:
    assert {k.value for k in ErrorKind if k.provider_fault} == PROVIDER_FAULTS
    assert {k.value for k in ErrorKind if k.retryable_by_default} == PROVIDER_FAULTS
    c = Classification(kind=ErrorKind.OVERLOADED, retryable=True, exception_type="x")
    assert c.provider_fault


@pytest.mark.parametrize(
    ("status", "error_type", "code", "fault"),
    [
        (429, "rate_limit_error", None, True),
        (529, "overloaded_error", None, True),
        (500, "api_error", None, True),
        (503, "api_error", None, True),
        (504, "timeout_error", None, True),
        (429, "rate_limit_error", "enforced_spend_limit_reached", False),
        (400, "invalid_request_error", None, False),
        (401, "authentication_error", None, False),
        (402, "billing_error", None, False),
        (403, "permission_error", None, False),
        (404, "not_found_error", None, False),
        (413, "request_too_large", None, False),
        (422, "invalid_request_error", None, False),
    ],
)
def test_is_provider_fault_is_what_a_breaker_counts(
    api_error: ApiError, status: int, error_type: str, code: str | None, fault: bool
) -> None:
    assert is_provider_fault(api_error(status, error_type, error_code=code)) is fault


def test_is_provider_fault_on_plain_python_errors() -> None:
    assert is_provider_fault(TimeoutError())
    assert is_provider_fault(ConnectionResetError())
    assert not is_provider_fault(ValueError())
    assert not is_provider_fault(KeyboardInterrupt())
