"""Which exceptions count as the provider's fault, and so as failures of a breaker."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable

__all__ = ["builtin_is_provider_fault", "default_is_failure"]

_TRANSPORT_FAULTS = frozenset(
    {
        # anthropic (APITimeoutError derives from it)
        "APIConnectionError",
        # httpx and httpx2
        "TimeoutException",
        "NetworkError",
        "RemoteProtocolError",
    }
)


def builtin_is_provider_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is a timeout, a connection error or an HTTP 429/5xx answer.

    The status is read from ``exc.status_code`` (the anthropic SDK's ``APIStatusError``) or
    ``exc.response.status_code`` (httpx's ``HTTPStatusError``): 429 and 500 to 599 (529
    overloaded included) count, any other status does not, so a 4xx request error never
    trips the breaker. Without a status, the standard library's ``TimeoutError`` and
    ``ConnectionError`` and the SDK's and httpx's transport errors (recognised by class name,
    so neither library is imported) count; nothing else does.
    """
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool):
        return status == 429 or 500 <= status <= 599
    if isinstance(exc, (TimeoutError, ConnectionError, asyncio.TimeoutError)):
        return True
    return any(cls.__name__ in _TRANSPORT_FAULTS for cls in type(exc).__mro__)


def default_is_failure() -> Callable[[BaseException], bool]:
    """``agentguard_classify.is_provider_fault`` when installed, else the built-in predicate.

    Imported here, at the first breaker built without ``is_failure``, never at import time:
    the classifier is an optional extra (``agentguard-breaker[classify]``).
    """
    try:
        module = importlib.import_module("agentguard_classify")
    except ImportError:
        return builtin_is_provider_fault
    predicate = getattr(module, "is_provider_fault", None)
    if callable(predicate):
        return predicate  # type: ignore[no-any-return]  # getattr on a module is Any
    return builtin_is_provider_fault
