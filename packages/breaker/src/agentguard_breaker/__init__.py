"""agentguard-breaker: a circuit breaker for LLM provider calls, built on pybreaker.

Only the provider's faults count; transitions and fail-fasts are events on the bus; state may
be shared through Redis::

    from agentguard_breaker import CircuitBreaker, CircuitOpenError

    breaker = CircuitBreaker("anthropic", fail_max=5, reset_timeout_s=30)

    @breaker
    def ask(prompt: str) -> str: ...

    try:
        with breaker:
            client.messages.create(...)
    except CircuitOpenError as exc:
        print(f"provider down; retry in {exc.retry_after_s:.0f} s")
"""

from __future__ import annotations

from agentguard_breaker.breaker import CircuitBreaker
from agentguard_breaker.circuit import circuit
from agentguard_breaker.errors import CircuitOpenError

__all__ = ["CircuitBreaker", "CircuitOpenError", "circuit"]
