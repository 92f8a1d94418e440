"""The protocol every subscriber follows, so users can treat them alike.

A subscriber turns events into something else (metrics, spans, alerts). It attaches to a bus
(the default bus when given none) and can be closed; a buffered subscriber, one that holds
events or deltas before sending them somewhere, can also be flushed with a time limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from agentguard.bus import Bus, Subscription

__all__ = ["BufferedSubscriber", "Subscriber"]


@runtime_checkable
class Subscriber(Protocol):
    """Something that listens on a bus."""

    def attach(self, bus: Bus | None = None) -> Subscription:
        """Start listening on ``bus`` (the default bus if ``None``) and return the subscription."""
        ...

    def close(self) -> None:
        """Stop listening and release what the subscriber holds. Calling it again does nothing."""
        ...


@runtime_checkable
class BufferedSubscriber(Subscriber, Protocol):
    """A subscriber that buffers before it delivers."""

    def flush(self, timeout_s: float) -> bool:
        """Deliver what is buffered, waiting at most ``timeout_s`` seconds.

        Returns:
            Whether everything buffered before the call was delivered in time. What was not
            stays buffered (it is never dropped silently).
        """
        ...
