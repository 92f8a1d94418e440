"""The exception a circuit breaker raises on purpose: :class:`CircuitOpenError`.

The tree::

    AgentGuardError                         agentguard's root
    └── CircuitOpenError                    also a pybreaker.CircuitBreakerError:
                                            the breaker failed a call fast
"""

from __future__ import annotations

import pybreaker

from agentguard import AgentGuardError

__all__ = ["CircuitOpenError"]


class CircuitOpenError(AgentGuardError, pybreaker.CircuitBreakerError):
    """The breaker is open (or its one half-open probe is in flight): the call was not made.

    It is also a ``pybreaker.CircuitBreakerError``, so code written for pybreaker keeps
    catching it.

    Attributes:
        breaker: The name of the breaker that rejected the call.
        retry_after_s: Seconds until the breaker lets a probe call through; ``0.0`` when a
            probe is already in flight (the next one may go as soon as it ends).
    """

    def __init__(self, breaker: str, retry_after_s: float) -> None:
        super().__init__(
            f"circuit breaker {breaker!r} is open; a probe call is allowed in {retry_after_s:.3g} s"
        )
        self.breaker = breaker
        self.retry_after_s = retry_after_s
