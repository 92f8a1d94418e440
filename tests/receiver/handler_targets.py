"""Handlers named by ``module:function`` in the handler tests (importable as ``receiver...``)."""

from __future__ import annotations

from agentguard_receiver import Received

SEEN: list[Received] = []
"""What :func:`record` was given."""

NOT_CALLABLE = "a string"


def record(received: Received) -> None:
    """Keep ``received`` in :data:`SEEN`."""
    SEEN.append(received)


async def record_async(received: Received) -> None:
    """The same, as a coroutine function."""
    SEEN.append(received)
