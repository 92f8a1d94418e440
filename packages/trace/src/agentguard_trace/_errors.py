"""The ``error_kind`` of a failed call or tool, from :mod:`agentguard.errorkinds`.

With the ``classify`` extra (``agentguard-trace[classify]``) installed, the classifier decides,
so users' rules count; it is imported at the first error, never at import time. Without it,
:func:`agentguard.errorkinds.exception_kind` gives the same kinds for every API status,
``error.type`` and ``error_code``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

from agentguard.errorkinds import ErrorKind, body_kind, exception_kind


@functools.cache
def _classify() -> Callable[[BaseException], object] | None:
    """``agentguard_classify.classify`` if installed, else ``None`` (looked up once)."""
    try:
        module = importlib.import_module("agentguard_classify")
    except ImportError:
        return None
    classify = getattr(module, "classify", None)
    return classify if callable(classify) else None


def error_kind(exc: BaseException) -> str:
    """The ``ErrorKind`` value for ``exc``."""
    classify = _classify()
    if classify is not None:
        kind = getattr(classify(exc), "kind", None)
        if isinstance(kind, ErrorKind):
            return kind.value
    return exception_kind(exc).value


def api_error_kind(error: object) -> str:
    """The ``ErrorKind`` value of an API error object, by its ``type`` and ``error_code``.

    A stream's ``error`` event and a failed batch result carry one.
    """
    return body_kind(error).value
