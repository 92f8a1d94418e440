"""Breakers shared by name, in the ``@circuit``, ``@circuit(...)``, ``with circuit(...)`` forms."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, overload

from agentguard_breaker.breaker import CircuitBreaker

__all__ = ["circuit"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_registry: dict[str, CircuitBreaker] = {}
_registry_lock = threading.Lock()


@overload
def circuit(fn: Callable[_P, _R], /) -> Callable[_P, _R]: ...


@overload
def circuit(fn: None = None, /, *, name: str, **options: Any) -> CircuitBreaker: ...


def circuit(
    fn: Callable[_P, _R] | None = None, /, *, name: str | None = None, **options: Any
) -> Callable[_P, _R] | CircuitBreaker:
    """The breaker named ``name``, shared by every caller in the process; or guard ``fn``.

    Three forms::

        @circuit                       # a breaker named after the function
        def ask(...): ...

        @circuit(name="anthropic", fail_max=3)
        async def ask(...): ...

        with circuit(name="anthropic"):
            client.messages.create(...)

    The first call for a name builds the breaker with ``options`` (the keyword arguments of
    :class:`CircuitBreaker`); later calls get that same breaker, so every call site shares
    one state. Passing options that differ from the first call's raises ``ValueError``.
    """
    if fn is not None:
        if not callable(fn):
            raise TypeError(f"circuit decorates a callable, got {fn!r}")
        if name is not None or options:
            raise TypeError("use @circuit or @circuit(name=..., ...), not both at once")
        qualified = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
        return circuit(name=qualified)(fn)
    if name is None:
        raise TypeError("circuit() needs name=...; or use it bare, as @circuit")
    with _registry_lock:
        breaker = _registry.get(name)
        if breaker is None:
            breaker = _registry[name] = CircuitBreaker(name, **options)
            return breaker
    differing = sorted(
        k for k, v in options.items() if k in breaker.options and breaker.options[k] != v
    )
    unknown = sorted(set(options) - set(breaker.options))
    if unknown:
        raise TypeError(f"circuit() got unknown option(s) {unknown}")
    if differing:
        raise ValueError(
            f"breaker {name!r} already exists with other {', '.join(differing)}; "
            "pass the same options everywhere, or only name="
        )
    return breaker
