"""A guard that works as ``@x``, ``@x(...)`` and ``with x(...)``, sync and async.

Producers and guards (``@traced``, ``@tool``, the circuit breaker) subclass :class:`Scope`
and write only what starts and ends a stretch of code; the decorating, the ``with`` and
``async with`` forms, and the bookkeeping of nested and concurrent blocks are here once.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, cast

__all__ = ["Scope"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_S = TypeVar("_S")

_ENTERED: contextvars.ContextVar[tuple[tuple[Scope[Any], Any], ...]] = contextvars.ContextVar(
    "agentguard_entered_scopes", default=()
)
"""The ``with`` blocks open in this thread or task, innermost last, with their state.

A context variable, not a thread-local: asyncio tasks share their thread, and each must
leave only the blocks it entered.
"""


class Scope(ABC, Generic[_S]):
    """A measured stretch of code, as a decorator and as a context manager.

    It decorates functions and coroutine functions and works with ``with`` and ``async with``.
    Each call of a decorated function, and each ``with`` block, gets fresh state from
    :meth:`_begin`; :meth:`_end` gets it back with the exception that ended the block, if any
    (``BaseException`` included: a cancelled task ends its scope too). The exception is never
    swallowed. One instance may be entered by several threads or tasks at once.
    """

    @abstractmethod
    def _begin(self, name: str | None) -> _S:
        """Start a stretch; ``name`` is the decorated function's name, if any."""

    @abstractmethod
    def _end(self, state: _S, error: BaseException | None) -> None:
        """End a stretch started by :meth:`_begin`."""

    def __call__(self, fn: Callable[_P, _R]) -> Callable[_P, _R]:
        """Decorate ``fn`` so that each call runs in a fresh stretch."""
        if not callable(fn):
            raise TypeError(
                f"{type(self).__name__} decorates a callable, got {fn!r}; "
                "to guard a block of code, use it in a `with` block instead"
            )
        name = getattr(fn, "__name__", None)
        if inspect.iscoroutinefunction(fn):
            coroutine_fn = cast("Callable[_P, Awaitable[Any]]", fn)

            @functools.wraps(fn)
            async def run_async(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                state = self._begin(name)
                try:
                    result = await coroutine_fn(*args, **kwargs)
                except BaseException as exc:
                    self._end(state, exc)
                    raise
                self._end(state, None)
                return result

            return cast("Callable[_P, _R]", run_async)

        @functools.wraps(fn)
        def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            state = self._begin(name)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self._end(state, exc)
                raise
            self._end(state, None)
            return result

        return run

    def __enter__(self) -> _S:
        state = self._begin(None)
        _ENTERED.set((*_ENTERED.get(), (self, state)))
        return state

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entered = _ENTERED.get()
        index = max(i for i, (scope, _) in enumerate(entered) if scope is self)
        _ENTERED.set(entered[:index] + entered[index + 1 :])
        self._end(cast("_S", entered[index][1]), exc)

    async def __aenter__(self) -> _S:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
