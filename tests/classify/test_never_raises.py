"""classify() answers whatever it is given and whatever the exception's attributes hold."""

from __future__ import annotations

import contextlib
import math

import anthropic
import httpx
import httpx2
from hypothesis import given
from hypothesis import strategies as st

from agentguard_classify import Classification, ErrorKind, classify

BASES: list[type[BaseException]] = [
    Exception,
    ValueError,
    TimeoutError,
    ConnectionError,
    KeyboardInterrupt,
    anthropic.AnthropicError,
    anthropic.APIError,
    anthropic.APIStatusError,
    anthropic.RateLimitError,
    anthropic.BadRequestError,
    anthropic.InternalServerError,
    anthropic.APIConnectionError,
    anthropic.EnforcedSpendLimitReachedError,
    anthropic.APIResponseValidationError,
    httpx2.HTTPStatusError,
    httpx2.TransportError,
    httpx.HTTPStatusError,
]
ATTRIBUTES = [
    "status_code",
    "body",
    "response",
    "type",
    "error_code",
    "api_message",
    "message",
    "headers",
    "__cause__",
]


class Anything:
    """An object with arbitrary attributes, standing in for a response or its headers."""

    def __init__(self, **attributes: object) -> None:
        self.__dict__.update(attributes)


class Raising:
    """Every attribute read fails."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"no {name}")


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=20),
    st.sampled_from(["overloaded_error", "enforced_spend_limit_reached", "rate_limit_error"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["error", "type", "details", "error_code", "message"]),
            inner,
            max_size=4,
        ),
        st.builds(Raising),
        st.builds(
            lambda h, s: Anything(headers=h, status_code=s),
            st.dictionaries(
                st.sampled_from(["retry-after", "retry-after-ms", "x-should-retry"]),
                inner,
                max_size=3,
            ),
            inner,
        ),
    ),
    max_leaves=8,
)


@given(
    st.sampled_from(BASES),
    st.dictionaries(st.sampled_from(ATTRIBUTES), values, max_size=len(ATTRIBUTES)),
)
def test_any_exception_with_any_attributes(
    base: type[BaseException], attributes: dict[str, object]
) -> None:
    cls: type[BaseException] = type("Weird", (base,), {})
    exc = cls.__new__(cls)  # skip __init__: the attributes the SDK would set may be missing
    for name, value in attributes.items():
        with contextlib.suppress(TypeError, AttributeError):  # __cause__ takes only exceptions
            setattr(exc, name, value)
    _check(classify(exc))


class HostileError(Exception):
    """An exception whose every attribute and str() fail."""

    def __getattribute__(self, name: str) -> object:
        if name in ("__class__",):
            return object.__getattribute__(self, name)
        raise RuntimeError(name)

    def __str__(self) -> str:
        raise RuntimeError("str")


class HostileMeta(type):
    def __getattribute__(cls, name: str) -> object:
        if name in ("__mro__", "__name__"):
            return type.__getattribute__(cls, name)
        raise RuntimeError(name)


class HostileTypeError(Exception, metaclass=HostileMeta):
    pass


@given(st.one_of(scalars, st.builds(object), st.just(HostileError()), st.just(HostileTypeError())))
def test_things_that_are_hardly_exceptions(value: object) -> None:
    _check(classify(value))  # type: ignore[arg-type]  # robustness under test


def _check(result: Classification) -> None:
    assert isinstance(result, Classification)
    assert isinstance(result.kind, ErrorKind)
    assert isinstance(result.retryable, bool)
    assert isinstance(result.exception_type, str)
    assert result.status_code is None or (
        type(result.status_code) is int and 400 <= result.status_code <= 599
    )
    wait = result.retry_after_s
    assert wait is None or (math.isfinite(wait) and wait >= 0)
