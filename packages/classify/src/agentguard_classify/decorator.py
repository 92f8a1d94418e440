"""``classified``: classify what escapes a function or a block, publish it, re-raise it.

Works three ways, on sync functions and coroutine functions alike::

    @classified
    def search(query: str) -> list[str]: ...

    @classified(source="llm", bus=bus)
    async def ask(prompt: str) -> str: ...

    with classified(source="other"):
        step()

Each exception that passes through publishes one ``ErrorClassified`` event and is re-raised
as the very same object; nothing is ever swallowed or wrapped, and a failing bus changes
nothing the caller sees (the failure is logged once per episode on ``agentguard.classify``).
Nested ``classified`` blocks each publish. ``GeneratorExit`` (a generator being closed) is
not an error and is not reported. Generator functions are not wrapped: the exception of a
generator arrives while it is iterated, so use ``with classified(...)`` inside it.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from types import TracebackType
from typing import Any, Final, ParamSpec, TypeVar, cast, get_args, overload

from agentguard import Bus, FailureEpisodes, default_bus
from agentguard.events import ErrorClassified, ErrorSource
from agentguard_classify.classification import Classification
from agentguard_classify.classifier import Classifier, default_classifier
from agentguard_classify.kinds import ErrorKind

__all__ = ["Classified", "classified"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_SOURCES: Final = frozenset(get_args(ErrorSource))
_episodes = FailureEpisodes(logging.getLogger("agentguard.classify"))


class Classified:
    """The guard :func:`classified` returns: a decorator and a (sync or async) context manager.

    It holds no state between calls, so one instance can guard any number of calls at once.

    Args:
        source: Where the errors come from: ``"llm"``, ``"tool"`` or ``"other"``. With
            ``"tool"``, an exception nothing recognises is a ``tool_error`` (not ``unknown``).
        bus: The bus to publish on; ``None`` is ``agentguard.default_bus``.
        classifier: The classifier; ``None`` is ``default_classifier``.
    """

    __slots__ = ("_bus", "_classifier", "_source")

    def __init__(
        self,
        *,
        source: ErrorSource = "tool",
        bus: Bus | None = None,
        classifier: Classifier | None = None,
    ) -> None:
        if source not in _SOURCES:
            raise ValueError(f"source must be 'llm', 'tool' or 'other', got {source!r}")
        if bus is not None and not isinstance(bus, Bus):
            raise TypeError(f"bus must be an agentguard.Bus or None, got {bus!r}")
        if classifier is not None and not isinstance(classifier, Classifier):
            raise TypeError(f"classifier must be a Classifier or None, got {classifier!r}")
        self._source: ErrorSource = source
        self._bus = default_bus if bus is None else bus
        self._classifier = default_classifier if classifier is None else classifier

    @property
    def source(self) -> ErrorSource:
        """Where the guarded errors come from."""
        return self._source

    def __call__(self, func: Callable[_P, _T]) -> Callable[_P, _T]:
        """Wrap ``func`` (a function or a coroutine function)."""
        if not callable(func):
            raise TypeError(f"classified() decorates a function, got {func!r}")
        if inspect.iscoroutinefunction(func):
            coroutine_function = cast("Callable[_P, Awaitable[Any]]", func)

            @functools.wraps(func)
            async def guarded_async(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                try:
                    return await coroutine_function(*args, **kwargs)
                except BaseException as exc:
                    self._report_unless_closing(exc)
                    raise

            return cast("Callable[_P, _T]", guarded_async)

        @functools.wraps(func)
        def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            try:
                return func(*args, **kwargs)
            except BaseException as exc:
                self._report_unless_closing(exc)
                raise

        return guarded

    def __enter__(self) -> Classified:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self._report_unless_closing(exc)

    async def __aenter__(self) -> Classified:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self._report_unless_closing(exc)

    def report(self, exc: BaseException) -> Classification:
        """Classify ``exc`` and publish it, without raising; for code that catches it itself.

        Returns:
            The classification published (``tool_error`` for an unknown error from a tool).
        """
        classification = self._classifier.classify(exc)
        if self._source == "tool" and classification.kind is ErrorKind.UNKNOWN:
            classification = replace(classification, kind=ErrorKind.TOOL_ERROR, retryable=False)
        try:
            self._bus.publish(
                ErrorClassified(
                    source=self._source,
                    error_kind=classification.kind.value,
                    retryable=classification.retryable,
                    exception_type=classification.exception_type,
                    status_code=classification.status_code,
                    retry_after_s=classification.retry_after_s,
                )
            )
        except Exception as error:  # noqa: BLE001 (a failing bus never reaches the caller)
            _episodes.failed("publish", "publishing ErrorClassified failed", error)
        return classification

    def _report_unless_closing(self, exc: BaseException) -> None:
        if not isinstance(exc, GeneratorExit):
            self.report(exc)

    def __repr__(self) -> str:
        return f"<classified source={self._source!r}>"


@overload
def classified(func: Callable[_P, _T], /) -> Callable[_P, _T]: ...


@overload
def classified(
    *,
    source: ErrorSource = "tool",
    bus: Bus | None = None,
    classifier: Classifier | None = None,
) -> Classified: ...


def classified(
    func: Callable[_P, _T] | None = None,
    /,
    *,
    source: ErrorSource = "tool",
    bus: Bus | None = None,
    classifier: Classifier | None = None,
) -> Callable[_P, _T] | Classified:
    """Publish ``ErrorClassified`` for every exception that escapes, and re-raise it unchanged.

    Use as ``@classified``, ``@classified(source=..., bus=...)`` or
    ``with classified(...)`` / ``async with classified(...)``; see :class:`Classified`.

    Raises:
        ValueError: ``source`` is not ``"llm"``, ``"tool"`` or ``"other"``.
        TypeError: ``bus`` or ``classifier`` has the wrong type, or ``func`` is not callable.
    """
    guard = Classified(source=source, bus=bus, classifier=classifier)
    if func is None:
        return guard
    return guard(func)
