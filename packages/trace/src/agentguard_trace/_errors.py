"""The ``error_kind`` of a failed call or tool.

When ``agentguard-classify`` is installed its classifier decides (it knows spend limits,
context-window errors and ``error_code``). Without it, a coarse reading of the exception's
class and HTTP status gives the same ``ErrorKind`` values for the common cases, so events
from a tracer installed alone still carry a useful kind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

_STATUS_KINDS = {
    400: "invalid_request",
    401: "auth",
    402: "spend_limited",
    403: "permission",
    404: "not_found",
    408: "timeout",
    413: "request_too_large",
    429: "rate_limited",
    504: "timeout",
    529: "overloaded",
}

_API_ERROR_TYPES = {
    "invalid_request_error": "invalid_request",
    "authentication_error": "auth",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "request_too_large",
    "rate_limit_error": "rate_limited",
    "api_error": "server_error",
    "overloaded_error": "overloaded",
    "timeout_error": "timeout",
}


def _classifier() -> Callable[[BaseException], str] | None:
    try:
        from agentguard_classify import classify  # type: ignore[import-not-found, unused-ignore]  # optional integration
    except ImportError:
        return None

    def kind(exc: BaseException) -> str:
        return str(classify(exc).kind.value)

    return kind


_CLASSIFY = _classifier()


def error_kind(exc: BaseException) -> str:
    """The ``ErrorKind`` value for ``exc``."""
    if _CLASSIFY is not None:
        return _CLASSIFY(exc)
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    import anthropic

    if isinstance(exc, anthropic.APITimeoutError):
        return "timeout"
    if isinstance(exc, anthropic.APIConnectionError):
        return "connection"
    if isinstance(exc, anthropic.APIStatusError):
        return status_kind(exc.status_code)
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionError):
        return "connection"
    return "unknown"


def status_kind(status: int) -> str:
    """The ``ErrorKind`` value for an HTTP error status of the API."""
    kind = _STATUS_KINDS.get(status)
    if kind is not None:
        return kind
    return "server_error" if status >= 500 else "invalid_request"


def api_error_kind(error_type: object) -> str:
    """The ``ErrorKind`` value for the ``error.type`` of an API error body (a stream's error)."""
    return _API_ERROR_TYPES.get(error_type, "unknown") if isinstance(error_type, str) else "unknown"
