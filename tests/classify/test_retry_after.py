"""Reading ``retry-after-ms`` and ``retry-after`` (seconds or an HTTP date)."""

from __future__ import annotations

import math

import httpx2
from hypothesis import given
from hypothesis import strategies as st

from agentguard_classify._http import retry_after_s

NOW = 1_767_225_600.0  # Thu, 01 Jan 2026 00:00:00 GMT


def _wait(**headers: str) -> float | None:
    names = {name.replace("_", "-"): value for name, value in headers.items()}
    return retry_after_s(httpx2.Headers(names), lambda: NOW)


def test_seconds() -> None:
    assert _wait(retry_after="2") == 2.0
    assert _wait(retry_after=" 1.5 ") == 1.5
    assert _wait(retry_after="0") == 0.0


def test_milliseconds_win_over_seconds() -> None:
    assert _wait(retry_after_ms="250", retry_after="9") == 0.25


def test_garbage_milliseconds_fall_back_to_seconds() -> None:
    assert _wait(retry_after_ms="soon", retry_after="3") == 3.0
    assert _wait(retry_after_ms="-5", retry_after="3") == 3.0


def test_an_http_date() -> None:
    assert _wait(retry_after="Thu, 01 Jan 2026 00:01:00 GMT") == 60.0
    assert _wait(retry_after="Thu, 01 Jan 2026 00:00:00 GMT") == 0.0


def test_a_date_in_the_past_is_ignored() -> None:
    assert _wait(retry_after="Wed, 31 Dec 2025 23:59:00 GMT") is None


def test_negative_non_finite_and_garbage_are_ignored() -> None:
    for value in ["-1", "nan", "inf", "1e3", "1_000", "", "soon", "2 seconds", "Mon, 99 Foo"]:
        assert _wait(retry_after=value) is None, value


def test_no_headers_at_all() -> None:
    assert _wait() is None
    assert retry_after_s(None, lambda: NOW) is None
    assert retry_after_s({"retry-after": 5}, lambda: NOW) is None, "not a string"


@given(st.text(max_size=80), st.text(max_size=80))
def test_any_header_text_gives_none_or_a_finite_wait(milliseconds: str, seconds: str) -> None:
    headers = {"retry-after-ms": milliseconds, "retry-after": seconds}
    wait = retry_after_s(headers, lambda: NOW)
    assert wait is None or (math.isfinite(wait) and wait >= 0)
