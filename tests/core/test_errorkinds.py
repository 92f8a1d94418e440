"""The one table of error kinds: its maps, its decision and its reading of exceptions."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest

from agentguard.errorkinds import (
    CODE_KINDS,
    STATUS_KINDS,
    TYPE_KINDS,
    ErrorKind,
    body_kind,
    exception_kind,
    kind_of,
    retryable,
    status_kind,
)

K = ErrorKind


def test_importing_it_loads_no_http_library() -> None:
    script = (
        "import sys, agentguard.errorkinds\n"
        "print(sorted(n for n in ('anthropic', 'httpx2', 'httpx') if n in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


def test_every_map_lands_in_the_closed_set_and_every_kind_says_whose_fault() -> None:
    for table in (STATUS_KINDS, TYPE_KINDS, CODE_KINDS):
        assert all(isinstance(kind, ErrorKind) for kind in table.values())
    faults = {k for k in ErrorKind if k.provider_fault}
    assert faults == {K.RATE_LIMITED, K.OVERLOADED, K.SERVER_ERROR, K.TIMEOUT, K.CONNECTION}
    assert not K.SPEND_LIMITED.provider_fault
    assert not K.SPEND_LIMITED.retryable_by_default


@pytest.mark.parametrize(
    ("status", "error_type", "code", "kind"),
    [
        (429, "rate_limit_error", None, K.RATE_LIMITED),
        (429, "rate_limit_error", "enforced_spend_limit_reached", K.SPEND_LIMITED),
        (429, "rate_limit_error", "a_future_spend_limit_reached", K.SPEND_LIMITED),
        (429, "rate_limit_error", "a_future_code", K.RATE_LIMITED),
        (402, "billing_error", None, K.SPEND_LIMITED),
        (None, "billing_error", None, K.SPEND_LIMITED),
        (200, "overloaded_error", None, K.OVERLOADED),
        (418, "not_a_type", None, K.INVALID_REQUEST),
        (507, None, None, K.SERVER_ERROR),
        (None, None, None, K.UNKNOWN),
    ],
)
def test_kind_of_reads_code_then_status_then_type(
    status: int | None, error_type: str | None, code: str | None, kind: ErrorKind
) -> None:
    assert kind_of(status=status, error_type=error_type, error_code=code) is kind


def test_the_context_window_400_is_told_by_its_message_only_without_a_code() -> None:
    def says() -> str:
        return "prompt is too long: 250000 tokens > 200000 maximum"

    assert kind_of(status=400, message=says) is K.CONTEXT_WINDOW_EXCEEDED
    assert kind_of(status=400, error_code="other", message=says) is K.INVALID_REQUEST


def test_status_and_body_readers() -> None:
    assert status_kind(529) is K.OVERLOADED
    assert status_kind(200) is K.UNKNOWN
    assert body_kind({"type": "billing_error"}) is K.SPEND_LIMITED
    error = {"type": "rate_limit_error", "details": {"error_code": "contract_spend_limit_reached"}}
    assert body_kind(error) is K.SPEND_LIMITED
    assert body_kind("overloaded_error") is K.UNKNOWN


def test_retryable_never_for_a_spend_limit_and_by_status_where_it_differs() -> None:
    assert not retryable(K.SPEND_LIMITED, 429, "true")
    assert retryable(K.INVALID_REQUEST, 409, None)
    assert not retryable(K.SERVER_ERROR, 501, None)
    assert not retryable(K.SERVER_ERROR, 500, "false")


class _StatusError(Exception):
    def __init__(self, status: int, body: object = None) -> None:
        super().__init__(status)
        self.status_code = status
        self.body = body


class _Response:
    status_code = 503


class _HTTPStatusError(Exception):
    response = _Response()


class TimeoutException(Exception):  # noqa: N818 (httpx's name, read by name)
    pass


class TransportError(Exception):
    pass


class ConnectTimeout(TimeoutException, TransportError):  # noqa: N818 (httpx's name)
    pass


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_StatusError(429), K.RATE_LIMITED),
        (
            _StatusError(
                429, {"error": {"details": {"error_code": "enforced_spend_limit_reached"}}}
            ),
            K.SPEND_LIMITED,
        ),
        (_StatusError(200, {"error": {"type": "overloaded_error"}}), K.OVERLOADED),
        (_HTTPStatusError(), K.SERVER_ERROR),
        (ConnectTimeout(), K.TIMEOUT),
        (TransportError(), K.CONNECTION),
        (TimeoutError(), K.TIMEOUT),
        (ConnectionResetError(), K.CONNECTION),
        (socket.gaierror(), K.CONNECTION),
        (asyncio.CancelledError(), K.CANCELLED),
        (KeyboardInterrupt(), K.CANCELLED),
        (ValueError(), K.UNKNOWN),
    ],
)
def test_exception_kind(exc: BaseException, kind: ErrorKind) -> None:
    assert exception_kind(exc) is kind
