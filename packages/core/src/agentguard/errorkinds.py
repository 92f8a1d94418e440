"""The one table of error kinds: what an API error, a transport error or a status means.

:class:`ErrorKind` is the closed set of kinds events carry (``error_kind``), each with its
default retryability and whether it is the provider's fault (what a circuit breaker counts).
The maps (:data:`STATUS_KINDS`, :data:`TYPE_KINDS`, :data:`CODE_KINDS`) and :func:`kind_of`
decide a kind from an HTTP error's evidence; :func:`exception_kind` is the coarse reading of
an exception that the tracer and the breaker use when ``agentguard-classify`` is absent, and
that agrees with the classifier on every status, ``error.type`` and ``error_code``.

Standard library only: nothing here imports anthropic or httpx (exceptions are read by duck
typing and class names). See docs/architecture.md, "Error kinds".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import socket
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Final

__all__ = [
    "CODE_KINDS",
    "RETRYABLE_BY_STATUS",
    "STATUS_KINDS",
    "STDLIB_KINDS",
    "TYPE_KINDS",
    "ErrorKind",
    "api_error_kind",
    "body_kind",
    "exception_kind",
    "http_status",
    "kind_of",
    "retryable",
    "status_kind",
]


class ErrorKind(str, Enum):
    """What kind of error an exception is. Closed: nothing outside this list is ever returned.

    The values are the strings the events carry (``ErrorClassified.error_kind``,
    ``LLMCallFinished.error_kind``). A ``str`` mixin rather than ``StrEnum`` so that it works
    on Python 3.10; ``str(kind)`` is the value all the same.
    """

    RATE_LIMITED = "rate_limited"
    """Too many requests or tokens per minute (HTTP 429); wait ``retry_after_s`` and retry."""
    SPEND_LIMITED = "spend_limited"
    """A spend limit or the credit balance is exhausted (429 spend-limit codes, 402).
    Retrying does not help until someone raises the limit or pays."""
    OVERLOADED = "overloaded"
    """The provider is overloaded (HTTP 529, ``overloaded_error``)."""
    SERVER_ERROR = "server_error"
    """The provider failed (HTTP 5xx, ``api_error``)."""
    TIMEOUT = "timeout"
    """The request took too long: a client timeout, HTTP 408 or 504, ``timeout_error``."""
    CONNECTION = "connection"
    """The network failed: refused, reset, DNS, TLS or protocol trouble."""
    AUTH = "auth"
    """The credentials are missing or wrong (HTTP 401)."""
    PERMISSION = "permission"
    """The credentials may not do this (HTTP 403)."""
    NOT_FOUND = "not_found"
    """The model or resource does not exist (HTTP 404)."""
    REQUEST_TOO_LARGE = "request_too_large"
    """The request body is too big in bytes (HTTP 413)."""
    CONTEXT_WINDOW_EXCEEDED = "context_window_exceeded"
    """The prompt has more tokens than the model's context window (a 400 that says so)."""
    INVALID_REQUEST = "invalid_request"
    """Any other problem with the request (HTTP 400, 409, 422, ...)."""
    TOOL_ERROR = "tool_error"
    """A tool raised an exception nothing else recognises (see ``classified(source="tool")``)."""
    CANCELLED = "cancelled"
    """The work was cancelled: ``asyncio.CancelledError``, ``KeyboardInterrupt``, HTTP 499."""
    UNKNOWN = "unknown"
    """Nothing recognised the exception."""

    def __str__(self) -> str:
        return self.value

    @property
    def provider_fault(self) -> bool:
        """Whether errors of this kind are the provider's fault, not the request's.

        True for rate_limited, overloaded, server_error, timeout and connection: the errors a
        circuit breaker counts. Request errors (4xx), spend limits, tool errors, cancellation
        and unknown errors are never the provider's fault.
        """
        return self in _PROVIDER_FAULTS

    @property
    def retryable_by_default(self) -> bool:
        """Whether retrying the same request may succeed, when nothing more specific is known."""
        return self in _RETRYABLE


_PROVIDER_FAULTS: Final = frozenset(
    {
        ErrorKind.RATE_LIMITED,
        ErrorKind.OVERLOADED,
        ErrorKind.SERVER_ERROR,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
    }
)
_RETRYABLE: Final = _PROVIDER_FAULTS

STATUS_KINDS: Final[Mapping[int, ErrorKind]] = {
    400: ErrorKind.INVALID_REQUEST,
    401: ErrorKind.AUTH,
    402: ErrorKind.SPEND_LIMITED,
    403: ErrorKind.PERMISSION,
    404: ErrorKind.NOT_FOUND,
    408: ErrorKind.TIMEOUT,
    409: ErrorKind.INVALID_REQUEST,
    412: ErrorKind.INVALID_REQUEST,
    413: ErrorKind.REQUEST_TOO_LARGE,
    422: ErrorKind.INVALID_REQUEST,
    429: ErrorKind.RATE_LIMITED,
    431: ErrorKind.REQUEST_TOO_LARGE,
    499: ErrorKind.CANCELLED,
    500: ErrorKind.SERVER_ERROR,
    501: ErrorKind.SERVER_ERROR,
    502: ErrorKind.SERVER_ERROR,
    503: ErrorKind.SERVER_ERROR,
    504: ErrorKind.TIMEOUT,
    529: ErrorKind.OVERLOADED,
}
"""Kinds by HTTP status; other 4xx are invalid_request and other 5xx server_error. A 429 is
a spend limit, not a rate limit, when its ``error_code`` says so (:func:`kind_of`)."""

RETRYABLE_BY_STATUS: Final[Mapping[int, bool]] = {
    409: True,  # the SDK retries 409 as a lock timeout
    501: False,  # not implemented stays not implemented
}
"""Statuses whose retryability differs from their kind's default."""

TYPE_KINDS: Final[Mapping[str, ErrorKind]] = {
    "invalid_request_error": ErrorKind.INVALID_REQUEST,
    "authentication_error": ErrorKind.AUTH,
    "billing_error": ErrorKind.SPEND_LIMITED,
    "permission_error": ErrorKind.PERMISSION,
    "not_found_error": ErrorKind.NOT_FOUND,
    "request_too_large": ErrorKind.REQUEST_TOO_LARGE,
    "rate_limit_error": ErrorKind.RATE_LIMITED,
    "timeout_error": ErrorKind.TIMEOUT,
    "api_error": ErrorKind.SERVER_ERROR,
    "overloaded_error": ErrorKind.OVERLOADED,
    "conflict_error": ErrorKind.INVALID_REQUEST,
    "memory_precondition_failed_error": ErrorKind.INVALID_REQUEST,
    "memory_path_conflict_error": ErrorKind.INVALID_REQUEST,
}
"""Kinds by the API's ``error.type``; how an error sent inside a stream is told apart."""

CODE_KINDS: Final[Mapping[str, ErrorKind]] = {
    "enforced_spend_limit_reached": ErrorKind.SPEND_LIMITED,
    "contract_spend_limit_reached": ErrorKind.SPEND_LIMITED,
    "linked_organization_spend_limit_reached": ErrorKind.SPEND_LIMITED,
    "linked_organization_billing_unavailable": ErrorKind.SPEND_LIMITED,
    "ramp_limit_exceeded": ErrorKind.RATE_LIMITED,
    "request_body_too_large_after_decoding": ErrorKind.REQUEST_TOO_LARGE,
    "prompt_too_long": ErrorKind.CONTEXT_WINDOW_EXCEEDED,
    "context_window_exceeded": ErrorKind.CONTEXT_WINDOW_EXCEEDED,
    "model_context_window_exceeded": ErrorKind.CONTEXT_WINDOW_EXCEEDED,
}
"""Kinds by ``error.details.error_code``, the API's stable name for a cause. A code not
listed here counts as its bare ``error.type`` (the SDK's advice), except that any
``*_spend_limit_reached`` is a spend limit."""

STDLIB_KINDS: Final[Mapping[type, ErrorKind]] = {
    TimeoutError: ErrorKind.TIMEOUT,
    asyncio.TimeoutError: ErrorKind.TIMEOUT,
    concurrent.futures.TimeoutError: ErrorKind.TIMEOUT,
    ConnectionError: ErrorKind.CONNECTION,
    socket.gaierror: ErrorKind.CONNECTION,
    socket.herror: ErrorKind.CONNECTION,
    asyncio.CancelledError: ErrorKind.CANCELLED,
    concurrent.futures.CancelledError: ErrorKind.CANCELLED,
    KeyboardInterrupt: ErrorKind.CANCELLED,
    GeneratorExit: ErrorKind.CANCELLED,
}
"""The standard library's exception classes (some are aliases of others on newer Pythons)."""

_TRANSPORT_NAMES: Final[Mapping[str, ErrorKind]] = {
    # anthropic (APITimeoutError derives from APIConnectionError)
    "APITimeoutError": ErrorKind.TIMEOUT,
    "APIConnectionError": ErrorKind.CONNECTION,
    # httpx2 and httpx
    "TimeoutException": ErrorKind.TIMEOUT,
    "UnsupportedProtocol": ErrorKind.INVALID_REQUEST,
    "TransportError": ErrorKind.CONNECTION,
}
"""Transport errors of the SDK and httpx by class name, so neither library is imported."""

_CONTEXT_WINDOW: Final = re.compile(
    r"prompt is too long|context[ _-]?(?:window|length)|maximum context", re.IGNORECASE
)
"""The wording of the 400 that means the prompt does not fit ("prompt is too long: 250000
tokens > 200000 maximum"). Read only when no ``error_code`` names the cause."""


def kind_of(
    *,
    status: int | None,
    error_type: str | None = None,
    error_code: str | None = None,
    class_kind: ErrorKind | None = None,
    message: Callable[[], str | None] | None = None,
) -> ErrorKind:
    """The kind of an HTTP error, from the most reliable evidence to the least.

    Args:
        status: The HTTP status; below 400 (a stream that failed after its 200) it says nothing.
        error_type: The body's ``error.type``.
        error_code: The body's ``error.details.error_code``.
        class_kind: The kind the exception's class stands for, when its class is specific
            (``OverloadedError``); ``None`` for generic classes (``APIStatusError``).
        message: Returns the error's message, read only as the last resort.
    """
    if class_kind is ErrorKind.SPEND_LIMITED:
        return class_kind
    if error_code is not None:
        by_code = CODE_KINDS.get(error_code)
        if by_code is not None:
            return by_code
        if error_code.endswith("_spend_limit_reached"):
            return ErrorKind.SPEND_LIMITED
    kind: ErrorKind | None = class_kind
    if kind is None and status is not None and status >= 400:
        kind = STATUS_KINDS.get(status)
    if kind is None and error_type is not None:
        kind = TYPE_KINDS.get(error_type)
    if kind is None:
        if status is not None and 500 <= status <= 599:
            kind = ErrorKind.SERVER_ERROR
        elif status is not None and 400 <= status <= 499:
            kind = ErrorKind.INVALID_REQUEST
        else:
            return ErrorKind.UNKNOWN
    if kind is ErrorKind.INVALID_REQUEST and error_code is None and message is not None:
        text = message()
        if text and _CONTEXT_WINDOW.search(text):
            return ErrorKind.CONTEXT_WINDOW_EXCEEDED
    return kind


def status_kind(status: int) -> ErrorKind:
    """The kind of an HTTP error status alone (``unknown`` below 400)."""
    return kind_of(status=status)


def body_kind(error: object) -> ErrorKind:
    """The kind of an API error object: ``{"type": ..., "details": {"error_code": ...}}``.

    What a stream's ``error`` event or a failed batch result carries, without a status.
    """
    if not isinstance(error, Mapping):
        return ErrorKind.UNKNOWN
    details = error.get("details")
    return kind_of(
        status=None,
        error_type=_text(error.get("type")),
        error_code=_text(details.get("error_code")) if isinstance(details, Mapping) else None,
        message=lambda: _text(error.get("message")),
    )


def api_error_kind(
    exc: object, *, status: int | None, class_kind: ErrorKind | None = None
) -> ErrorKind:
    """The kind of an API error exception, read as the anthropic SDK's errors carry it.

    ``error_code`` and ``type`` are read from the exception's attributes, else from its
    ``body`` (``{"error": {"type": ..., "details": {"error_code": ...}}}``).

    Args:
        exc: The exception.
        status: Its HTTP status (see :func:`http_status`).
        class_kind: See :func:`kind_of`.
    """
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = _text(getattr(exc, "error_code", None))
    if code is None:
        details = error.get("details")
        if isinstance(details, dict):
            code = _text(details.get("error_code"))
    error_type = _text(getattr(exc, "type", None)) or _text(error.get("type"))

    def message() -> str | None:
        return (
            _text(getattr(exc, "api_message", None))
            or _text(error.get("message"))
            or _text(getattr(exc, "message", None))
        )

    return kind_of(
        status=status,
        error_type=error_type,
        error_code=code,
        class_kind=class_kind,
        message=message,
    )


def exception_kind(exc: BaseException) -> ErrorKind:
    """The kind of ``exc`` from this table alone, as the classifier's built-in knowledge says.

    An HTTP status (on the exception or its ``response``) or an API error body decides through
    :func:`api_error_kind`; then the SDK's and httpx's transport errors by class name, then
    the standard library's classes. What ``agentguard-classify`` adds beyond it: users'
    rules, ``__cause__`` chains, ``retry-after`` and the class-specific knowledge of each
    library (a class name alone is weaker evidence than the class).
    """
    status = http_status(getattr(exc, "status_code", None))
    if status is None:
        status = http_status(getattr(getattr(exc, "response", None), "status_code", None))
    if (status is not None and status >= 400) or isinstance(getattr(exc, "body", None), dict):
        kind = api_error_kind(exc, status=status)
        if kind is not ErrorKind.UNKNOWN:
            return kind
    mro = type(exc).__mro__
    for base in mro:
        by_name = _TRANSPORT_NAMES.get(base.__name__)
        if by_name is not None:
            return by_name
    for base in mro:
        by_class = STDLIB_KINDS.get(base)
        if by_class is not None:
            return by_class
    return ErrorKind.UNKNOWN


def retryable(kind: ErrorKind, status: int | None, should_retry: str | None) -> bool:
    """Whether to retry: the server's ``x-should-retry`` if sent, else by status and kind.

    A spend limit is never retryable, whatever the header says.
    """
    if kind is ErrorKind.SPEND_LIMITED:
        return False
    if should_retry == "true":
        return True
    if should_retry == "false":
        return False
    if status is not None:
        by_status = RETRYABLE_BY_STATUS.get(status)
        if by_status is not None:
            return by_status
    return kind.retryable_by_default


def http_status(value: object) -> int | None:
    """``value`` if it is an HTTP status code (an ``int``, not a ``bool``, 100 to 599)."""
    if type(value) is int and 100 <= value <= 599:
        return value
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
