"""httpx2's, httpx's and the standard library's exceptions; causes; other SDKs' statuses."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from types import ModuleType

import httpx
import httpx2
import pytest

from agentguard_classify import ErrorKind, classify, is_provider_fault
from agentguard_classify.kinds import ErrorKind as K

HTTP_LIBRARIES = [httpx2, httpx]


def _request(lib: ModuleType) -> object:
    return lib.Request("POST", "https://api.anthropic.com/v1/messages")


@pytest.mark.parametrize("lib", HTTP_LIBRARIES, ids=lambda lib: lib.__name__)
@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ConnectTimeout", K.TIMEOUT),
        ("ReadTimeout", K.TIMEOUT),
        ("WriteTimeout", K.TIMEOUT),
        ("PoolTimeout", K.TIMEOUT),
        ("ConnectError", K.CONNECTION),
        ("ReadError", K.CONNECTION),
        ("WriteError", K.CONNECTION),
        ("CloseError", K.CONNECTION),
        ("RemoteProtocolError", K.CONNECTION),
        ("LocalProtocolError", K.CONNECTION),
        ("ProxyError", K.CONNECTION),
        ("UnsupportedProtocol", K.INVALID_REQUEST),
        ("DecodingError", K.UNKNOWN),
        ("TooManyRedirects", K.UNKNOWN),
    ],
)
def test_transport_errors(lib: ModuleType, name: str, kind: ErrorKind) -> None:
    exc = getattr(lib, name)("boom", request=_request(lib))
    result = classify(exc)
    assert result.kind is kind
    assert result.retryable is kind.retryable_by_default
    assert result.exception_type == f"{lib.__name__}.{name}"


@pytest.mark.parametrize("lib", HTTP_LIBRARIES, ids=lambda lib: lib.__name__)
@pytest.mark.parametrize(
    ("status", "headers", "kind", "retryable", "retry_after_s"),
    [
        (429, {"retry-after": "3"}, K.RATE_LIMITED, True, 3.0),
        (529, {}, K.OVERLOADED, True, None),
        (503, {"retry-after-ms": "250"}, K.SERVER_ERROR, True, 0.25),
        (504, {}, K.TIMEOUT, True, None),
        (404, {}, K.NOT_FOUND, False, None),
        (400, {}, K.INVALID_REQUEST, False, None),
        (402, {}, K.SPEND_LIMITED, False, None),
        (500, {"x-should-retry": "false"}, K.SERVER_ERROR, False, None),
    ],
)
def test_http_status_errors(
    lib: ModuleType,
    status: int,
    headers: dict[str, str],
    kind: ErrorKind,
    retryable: bool,
    retry_after_s: float | None,
) -> None:
    request = _request(lib)
    response = lib.Response(status, request=request, headers=headers)
    exc = lib.HTTPStatusError("bad status", request=request, response=response)
    result = classify(exc)
    assert (result.kind, result.retryable, result.status_code) == (kind, retryable, status)
    assert result.retry_after_s == retry_after_s


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TimeoutError(), K.TIMEOUT),
        (asyncio.TimeoutError(), K.TIMEOUT),
        (concurrent.futures.TimeoutError(), K.TIMEOUT),
        (ConnectionError(), K.CONNECTION),
        (ConnectionRefusedError(111, "refused"), K.CONNECTION),
        (ConnectionResetError(), K.CONNECTION),
        (BrokenPipeError(), K.CONNECTION),
        (socket.gaierror(-2, "Name or service not known"), K.CONNECTION),
        (asyncio.CancelledError(), K.CANCELLED),
        (concurrent.futures.CancelledError(), K.CANCELLED),
        (KeyboardInterrupt(), K.CANCELLED),
        (ValueError("x"), K.UNKNOWN),
        (OSError(2, "No such file"), K.UNKNOWN),
        (MemoryError(), K.UNKNOWN),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_standard_library_errors(exc: BaseException, kind: ErrorKind) -> None:
    result = classify(exc)
    assert (result.kind, result.retryable) == (kind, kind.retryable_by_default)
    assert result.status_code is None
    assert is_provider_fault(exc) is kind.provider_fault


def test_standard_library_names_are_public_paths() -> None:
    assert classify(TimeoutError()).exception_type == "TimeoutError"
    assert classify(asyncio.CancelledError()).exception_type == "asyncio.CancelledError"


def _fetch() -> None:
    raise httpx2.ReadTimeout("slow", request=httpx2.Request("GET", "https://example.com"))


def _tool() -> None:
    try:
        _fetch()
    except httpx2.ReadTimeout as inner:
        raise RuntimeError("tool failed") from inner


def test_an_unknown_exception_is_classified_by_its_cause() -> None:
    with pytest.raises(RuntimeError) as caught:
        _tool()
    result = classify(caught.value)
    assert result.kind is ErrorKind.TIMEOUT
    assert result.exception_type == "RuntimeError", "the type the caller sees"


def test_an_implicit_context_is_not_a_cause() -> None:
    exc = ValueError("unrelated")
    exc.__context__ = TimeoutError()
    assert classify(exc).kind is ErrorKind.UNKNOWN


def test_a_cycle_of_causes_ends() -> None:
    first, second = ValueError("a"), KeyError("b")
    first.__cause__, second.__cause__ = second, first
    assert classify(first).kind is ErrorKind.UNKNOWN


class OtherSdkError(Exception):
    """Shaped like other SDKs' HTTP errors: a status code and a response with headers."""

    def __init__(self, status_code: object, headers: dict[str, str] | None = None) -> None:
        super().__init__("other sdk")
        self.status_code = status_code
        self.response = httpx2.Response(599 if type(status_code) is not int else status_code)
        self.response.headers.update(headers or {})


def test_other_sdks_errors_are_classified_by_their_http_status() -> None:
    result = classify(OtherSdkError(429, {"retry-after": "4"}))
    assert (result.kind, result.status_code, result.retry_after_s) == (K.RATE_LIMITED, 429, 4.0)
    assert classify(OtherSdkError(401)).kind is ErrorKind.AUTH
    assert classify(OtherSdkError(True)).kind is ErrorKind.SERVER_ERROR, "status from response"


def test_a_status_below_400_on_an_unknown_exception_says_nothing() -> None:
    exc = ValueError("x")
    exc.status_code = 200  # type: ignore[attr-defined]  # duck typing under test
    assert classify(exc).kind is ErrorKind.UNKNOWN
