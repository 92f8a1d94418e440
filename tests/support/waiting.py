"""Wait for a condition instead of sleeping: ``wait_until(lambda: server.ping(), 10, "PING")``.

The one polling loop of the tests (no pytest here: the benchmarks import it through
``support.redis_server``). A sleep in a test is for what the test is about (a clock that must
pass, a slow client); waiting for something to happen goes through :func:`wait_until`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None],
    timeout_s: float,
    what: str | Callable[[], str],
    *,
    interval_s: float = 0.02,
) -> T:
    """Call ``predicate`` until it returns something true, and return that.

    Raises ``AssertionError`` naming ``what`` (called then if callable: the state at the end)
    and the last value once ``timeout_s`` has passed. ``predicate`` may raise to stop the wait
    at once (a process that exited, say).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"{said}: not within {timeout_s} s (last: {value!r})")
        time.sleep(interval_s)
