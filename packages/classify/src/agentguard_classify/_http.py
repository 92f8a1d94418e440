"""How long an HTTP error response says to wait, and the headers that say it.

The wait comes from ``retry-after-ms`` and ``retry-after``; whether to retry from
``x-should-retry`` (read by :func:`agentguard.errorkinds.retryable`). The kinds themselves
are :mod:`agentguard.errorkinds`'s. Nothing here raises on odd values: every reader returns
``None`` for what it cannot read.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Callable
from typing import Final

_SECONDS = re.compile(r"\s*\d{1,12}(?:\.\d{1,9})?\s*")


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
