"""The run context: which agent run, and which session, the current code belongs to.

It lives in a :class:`contextvars.ContextVar`: asyncio tasks copy it when they are created, so
``asyncio.gather`` and ``create_task`` inside a run belong to the run. The trap: a plain
``threading.Thread`` (and ``ThreadPoolExecutor.submit``) starts with an *empty* context; run
its target through ``contextvars.copy_context().run`` or wrap it with :func:`bind_context`.

Events read the context when they are built and record ``run_id``, ``agent`` and
``session_id`` from it.
"""

from __future__ import annotations

import contextvars
import functools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

__all__ = ["RunContext", "bind_context", "current_run", "new_id", "run_context"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """One agent run as the code inside it sees it."""

    run_id: str
    """Unique id of this run."""
    agent: str
    """Name of the agent the run belongs to."""
    session_id: str
    """The session the run belongs to; nested runs share their parent's."""
    parent_run_id: str | None = None
    """The run this one was started inside, or ``None`` for a top-level run."""


_CURRENT: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar(
    "agentguard_run", default=None
)


def new_id() -> str:
    """Return a fresh random id (32 hex digits), as used for runs and sessions."""
    return uuid.uuid4().hex


def current_run() -> RunContext | None:
    """Return the innermost active run, or ``None`` outside any run."""
    return _CURRENT.get()


@contextmanager
def run_context(
    agent: str, *, run_id: str | None = None, session_id: str | None = None
) -> Iterator[RunContext]:
    """Make a run current for the code inside the ``with`` block.

    A nested run keeps its parent's session and records the parent's ``run_id``; a top-level
    run gets ``session_id`` or, when none is given, a new one.

    Args:
        agent: Name of the agent.
        run_id: Id for the run; a new one by default.
        session_id: Session of a top-level run. For a nested run it must be omitted or equal
            the parent's session.

    Raises:
        ValueError: ``agent`` is empty, or a nested run names a session other than its
            parent's.
    """
    if type(agent) is not str or not agent:
        raise ValueError(f"agent must be a non-empty string, got {agent!r}")
    parent = _CURRENT.get()
    if parent is not None:
        if session_id is not None and session_id != parent.session_id:
            raise ValueError(
                f"a nested run keeps its parent's session {parent.session_id!r}; "
                f"got session_id={session_id!r}"
            )
        session_id = parent.session_id
    run = RunContext(
        run_id=run_id or new_id(),
        agent=agent,
        session_id=session_id or new_id(),
        parent_run_id=parent.run_id if parent is not None else None,
    )
    token = _CURRENT.set(run)
    try:
        yield run
    finally:
        _CURRENT.reset(token)


def bind_context(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Return ``fn`` bound to a copy of the current context, for another thread to call.

    Use it for ``threading.Thread(target=bind_context(work))`` and
    ``executor.submit(bind_context(work), ...)`` so events published by ``work`` belong to
    the run that started it. Each call runs in its own copy, so the bound function can be
    called from several threads at once.
    """
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def bound(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        return context.copy().run(fn, *args, **kwargs)

    return bound


def _run_id() -> str | None:
    run = _CURRENT.get()
    return None if run is None else run.run_id


def _agent() -> str | None:
    run = _CURRENT.get()
    return None if run is None else run.agent


def _session_id() -> str | None:
    run = _CURRENT.get()
    return None if run is None else run.session_id
