"""The answer :func:`~agentguard_classify.classify` gives about one exception."""

from __future__ import annotations

from dataclasses import dataclass

from agentguard_classify.kinds import ErrorKind

__all__ = ["Classification"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """What kind of error an exception is, and what to do about it."""

    kind: ErrorKind
    """The kind of error."""
    retryable: bool
    """Whether retrying the same request may succeed. False for spend limits even though they
    arrive as HTTP 429; the server's ``x-should-retry`` header, when sent, decides otherwise."""
    exception_type: str
    """Qualified name of the exception's class, by its public path where it has one
    (``anthropic.RateLimitError``, ``httpx2.ReadTimeout``, ``TimeoutError``)."""
    status_code: int | None = None
    """HTTP status of the error response; ``None`` without one, and for an error sent inside
    a stream that had started with 200 (the status would say nothing about the error)."""
    retry_after_s: float | None = None
    """Seconds the server asked to wait: ``retry-after-ms``, else ``retry-after`` in seconds
    or as an HTTP date. ``None`` when absent, negative, in the past or unreadable."""

    @property
    def provider_fault(self) -> bool:
        """Whether the error is the provider's fault (see :attr:`ErrorKind.provider_fault`)."""
        return self.kind.provider_fault
