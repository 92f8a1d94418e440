"""Helpers for testing code that uses agentguard: capture events, fail loudly, fake time.

Example::

    from agentguard.testing import capture_events

    with capture_events() as events:
        run_my_agent()
    assert events.of(LLMCallFinished)[0].model == "claude-sonnet-4-5"
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from agentguard.bus import Bus, Handler, default_bus
from agentguard.events import Event

__all__ = ["CapturedEvents", "FakeClock", "StrictBus", "capture_events"]

_E = TypeVar("_E", bound=Event)


class CapturedEvents(list[Event]):
    """The events a :func:`capture_events` block saw, in order of delivery."""

    def of(self, cls: type[_E]) -> list[_E]:
        """The captured events of class ``cls``."""
        return [event for event in self if isinstance(event, cls)]

    def kinds(self) -> list[str]:
        """The ``kind`` of each captured event."""
        return [event.kind for event in self]


@contextmanager
def capture_events(
    bus: Bus | None = None, *, to: type[Event] | None = None
) -> Iterator[CapturedEvents]:
    """Collect the events published on ``bus`` (the default bus) inside the ``with`` block.

    Args:
        bus: The bus to listen on.
        to: Only capture events of this class.
    """
    captured = CapturedEvents()
    with (bus or default_bus).subscribe(captured.append, to, name="capture_events"):
        yield captured


class StrictBus(Bus):
    """A bus that re-raises handler errors in the publisher, for tests.

    A sync handler's exception propagates out of :meth:`publish` (the handlers after it do not
    run); an async handler's first exception is raised by :meth:`drain`.
    """

    __slots__ = ("_async_errors",)

    def __init__(self, *, name: str = "strict") -> None:
        super().__init__(name=name)
        self._async_errors: list[BaseException] = []

    def _handler_failed(self, handler: Handler, exc: Exception) -> None:
        raise exc

    def _async_failed(self, name: str, exc: BaseException) -> None:
        self._async_errors.append(exc)

    async def drain(self) -> None:
        """Wait for the scheduled async handlers, then raise the first error any of them raised."""
        await super().drain()
        if self._async_errors:
            first = self._async_errors[0]
            self._async_errors.clear()
            raise first


class FakeClock:
    """A clock that moves only when told to; pass its methods where a ``clock=`` is taken.

    ``monotonic()`` and ``time()`` move together; ``sleep(s)`` advances instead of waiting.
    """

    def __init__(self, start_unix_s: float = 1_767_225_600.0) -> None:
        self._lock = threading.Lock()
        self._unix_s = float(start_unix_s)
        self._monotonic_s = 1_000.0

    def time(self) -> float:
        """Seconds since the Unix epoch, like :func:`time.time`."""
        with self._lock:
            return self._unix_s

    def monotonic(self) -> float:
        """Seconds on a monotonic scale, like :func:`time.monotonic`."""
        with self._lock:
            return self._monotonic_s

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds`` (which must not be negative)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back; got advance({seconds!r})")
        with self._lock:
            self._unix_s += seconds
            self._monotonic_s += seconds

    def sleep(self, seconds: float) -> None:
        """Advance instead of sleeping."""
        self.advance(max(0.0, seconds))
