"""agentguard-classify: what kind of error an exception is, and whether to retry it.

:func:`classify` turns any exception into a :class:`Classification`: a closed
:class:`ErrorKind`, ``retryable``, the HTTP status, the server's ``retry-after`` in seconds
and the exception's type name; :class:`Classifier` rules teach it yours. :func:`classified`
publishes ``ErrorClassified`` for what escapes a function or a block, and
:func:`is_provider_fault` is the predicate a circuit breaker counts with::

    from agentguard_classify import classify

    try:
        client.messages.create(...)
    except anthropic.APIError as exc:
        c = classify(exc)  # c.kind is ErrorKind.RATE_LIMITED, c.retry_after_s == 2.0
"""

from __future__ import annotations

from agentguard_classify.classification import Classification
from agentguard_classify.classifier import (
    Classifier,
    Rule,
    classify,
    default_classifier,
    is_provider_fault,
)
from agentguard_classify.decorator import Classified, classified
from agentguard_classify.kinds import ErrorKind

__all__ = [
    "Classification",
    "Classified",
    "Classifier",
    "ErrorKind",
    "Rule",
    "classified",
    "classify",
    "default_classifier",
    "is_provider_fault",
]
