"""Which exceptions count as the provider's fault, and so as failures of a breaker."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from agentguard.errorkinds import exception_kind

__all__ = ["builtin_is_provider_fault", "default_is_failure"]


def builtin_is_provider_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is the provider's fault by :func:`agentguard.errorkinds.exception_kind`.

    Rate limits, overload, 5xx, timeouts and connection errors count; request errors (4xx)
    and spend limits (402, ``billing_error``, a 429 whose ``error_code`` is a spend limit)
    never do, exactly as ``agentguard_classify.is_provider_fault`` decides without rules.
    """
    return exception_kind(exc).provider_fault


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
