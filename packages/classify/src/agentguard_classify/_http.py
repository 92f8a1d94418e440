"""What an HTTP error response says: its kind, whether to retry it, how long to wait.

The kind comes from the status, ``error.type`` and ``error.details.error_code``; the wait
from ``retry-after-ms`` and ``retry-after``.

Nothing here raises on odd values: every reader returns ``None`` for what it cannot read.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Callable
from typing import Final

from agentguard_classify.kinds import ErrorKind

STATUS_KINDS: Final[dict[int, ErrorKind]] = {
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
"""Kinds by HTTP status; other 4xx are invalid_request and other 5xx server_error."""

RETRYABLE_BY_STATUS: Final[dict[int, bool]] = {
    409: True,  # the SDK retries 409 as a lock timeout
    501: False,  # not implemented stays not implemented
}
"""Statuses whose retryability differs from their kind's default."""

TYPE_KINDS: Final[dict[str, ErrorKind]] = {
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

CODE_KINDS: Final[dict[str, ErrorKind]] = {
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

_CONTEXT_WINDOW = re.compile(
    r"prompt is too long|context[ _-]?(?:window|length)|maximum context", re.IGNORECASE
)
"""The wording of the 400 that means the prompt does not fit ("prompt is too long: 250000
tokens > 200000 maximum"). Read only when no ``error_code`` names the cause."""

_SECONDS = re.compile(r"\s*\d{1,12}(?:\.\d{1,9})?\s*")


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


_WANTED: Final = frozenset({b"retry-after-ms", b"retry-after", b"x-should-retry"})
_WANTED_LENGTHS: Final = frozenset(len(name) for name in _WANTED)


def read_headers(headers: object) -> dict[str, str]:
    """The headers the classifier reads, by lowercase name, in one pass.

    They are ``retry-after-ms``, ``retry-after`` and ``x-should-retry``.
    httpx2's and httpx's ``Headers`` expose ``raw`` byte pairs; reading them once is several
    times cheaper than three case-insensitive ``get`` calls. Other header objects are asked
    with ``get``. The first value of a repeated header wins.
    """
    raw = getattr(headers, "raw", None)
    found: dict[str, str] = {}
    if isinstance(raw, list):
        for pair in raw:
            if type(pair) is tuple and len(pair) == 2:
                key, value = pair
                if (
                    type(key) is bytes
                    and len(key) in _WANTED_LENGTHS
                    and type(value) is bytes
                    and key.lower() in _WANTED
                ):
                    found.setdefault(key.lower().decode("ascii"), value.decode("latin-1"))
        return found
    for name in ("retry-after-ms", "retry-after", "x-should-retry"):
        value = header(headers, name)
        if value is not None:
            found[name] = value
    return found


def header(headers: object, name: str) -> str | None:
    """The value of header ``name`` if ``headers`` has a ``get`` that gives a string."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    value = get(name)
    return value if isinstance(value, str) else None


def retry_after_s(headers: object, now_unix_s: Callable[[], float]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` then ``retry-after`` (seconds or HTTP date).

    Negative, non-finite, past and unreadable values are ignored (the next header is tried).

    Args:
        headers: The response headers (anything with a case-insensitive ``get``), or what
            :func:`read_headers` made of them.
        now_unix_s: The clock an HTTP date is measured against.
    """
    milliseconds = _seconds(header(headers, "retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000.0
    value = header(headers, "retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    return _until_date(value, now_unix_s)


def _seconds(value: str | None) -> float | None:
    if value is None or _SECONDS.fullmatch(value) is None:
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) else None


def _until_date(value: str, now_unix_s: Callable[[], float]) -> float | None:
    if len(value) > 64:
        return None
    try:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        wait_s = float(email.utils.mktime_tz(parsed)) - now_unix_s()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return wait_s if math.isfinite(wait_s) and wait_s >= 0 else None
