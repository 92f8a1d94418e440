"""``classified``: classify what escapes a function or a block, publish it, re-raise it.

An :class:`agentguard.scope.Scope`, like the other guards, on sync and coroutine functions::

    @classified
    def search(query: str) -> list[str]: ...

    with classified(source="other"):
        step()

Each exception that passes publishes one ``ErrorClassified`` and is re-raised unchanged; a
failing bus is logged once per episode on ``agentguard.classify``. ``GeneratorExit`` is not
reported; in a generator, use ``with classified(...)`` inside it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import Final, ParamSpec, TypeVar, get_args, overload

from agentguard import Bus, FailureEpisodes, default_bus
from agentguard.events import ErrorClassified, ErrorSource
from agentguard.scope import Scope
from agentguard_classify.classification import Classification
from agentguard_classify.classifier import Classifier, default_classifier
from agentguard_classify.kinds import ErrorKind

__all__ = ["Classified", "classified"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_SOURCES: Final = frozenset(get_args(ErrorSource))
_episodes = FailureEpisodes(logging.getLogger("agentguard.classify"))


class Classified(Scope["Classified"]):
    """The guard :func:`classified` returns: a decorator and a (sync or async) context manager.

    It holds no state between calls, so one instance can guard any number of calls at once.
    ``with classified(...) as guard`` gives the guard itself (for :meth:`report`).

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
        return super().__call__(func)

    def _begin(self, name: str | None) -> Classified:
        return self

    def _end(self, state: Classified, error: BaseException | None) -> None:
        if error is not None and not isinstance(error, GeneratorExit):
            self.report(error)

    # The ``with`` forms skip Scope's bookkeeping of entered blocks: it exists to hand each
    # block its own state back, and this guard has none (it cost 6x the block, bench classify).
    def __enter__(self) -> Classified:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end(self, exc)

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
