"""The open runs: their spans, the contexts their children hang from, and detaching.

Bounded: past ``max_runs`` open runs the oldest is ended and forgotten (a run whose
``RunFinished`` never came, e.g. a process that lost it, must not grow memory for ever).
Writes take a lock; lookups, the hot path of every LLM and tool call, do not.
"""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

__all__ = ["OpenRun", "RunTable", "detach"]


@dataclass(slots=True)
class OpenRun:
    """One run whose span is open."""

    span: Span
    """The ``invoke_agent`` span."""
    parent: Context
    """A context with :attr:`span` current: the parent of the run's chat and tool spans."""
    token: object
    """What ``opentelemetry.context.attach`` returned when the run started."""


class RunTable:
    """Open runs by run id, at most ``max_runs`` of them."""

    def __init__(self, max_runs: int) -> None:
        self._max_runs = max_runs
        self._runs: dict[str, OpenRun] = {}
        self._lock = threading.Lock()

    def get(self, run_id: str | None) -> OpenRun | None:
        """The open run ``run_id``, or ``None``."""
        return None if run_id is None else self._runs.get(run_id)

    def add(self, run_id: str, run: OpenRun) -> list[OpenRun]:
        """Open ``run``; return the runs evicted to stay within the cap (and one it replaced)."""
        evicted: list[OpenRun] = []
        with self._lock:
            replaced = self._runs.pop(run_id, None)
            if replaced is not None:
                evicted.append(replaced)
            while len(self._runs) >= self._max_runs:
                oldest = next(iter(self._runs))
                evicted.append(self._runs.pop(oldest))
            self._runs[run_id] = run
        return evicted

    def pop(self, run_id: str | None) -> OpenRun | None:
        """Forget the run ``run_id`` and return it, or ``None`` if it is not open."""
        if run_id is None:
            return None
        with self._lock:
            return self._runs.pop(run_id, None)

    def clear(self) -> list[OpenRun]:
        """Forget every open run and return them."""
        with self._lock:
            runs, self._runs = list(self._runs.values()), {}
        return runs

    def __len__(self) -> int:
        return len(self._runs)


def detach(token: object) -> bool:
    """Undo the ``attach`` that returned ``token``, here; whether that worked.

    ``opentelemetry.context.detach`` logs a traceback when the token was made in another
    context (a run finished in another task or thread than it started in). The default
    runtime context's tokens are :class:`contextvars.Token`, whose ``reset`` tells that
    without logging, so those are reset directly; other runtime contexts go through the API.
    """
    if isinstance(token, contextvars.Token):
        var: contextvars.ContextVar[Any] = token.var
        try:
            var.reset(token)
        except (ValueError, RuntimeError):  # another context, or reset already
            return False
        return True
    otel_context.detach(token)  # type: ignore[arg-type]  # whatever attach() returned
    return True
