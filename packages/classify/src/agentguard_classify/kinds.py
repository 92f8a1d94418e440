"""The closed set of error kinds every classification lands in."""

from __future__ import annotations

from enum import Enum

__all__ = ["ErrorKind"]


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


_PROVIDER_FAULTS = frozenset(
    {
        ErrorKind.RATE_LIMITED,
        ErrorKind.OVERLOADED,
        ErrorKind.SERVER_ERROR,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
    }
)
_RETRYABLE = _PROVIDER_FAULTS
