"""The classifier: user rules first, then what it knows about the SDK, HTTP and Python.

First answer wins: user rules in the order added (a type rule answers for instances of its
type and subclasses when its ``when`` holds; a rule callable when it returns non-``None``),
then the anthropic SDK (class, ``error_code``, status, ``error.type``, message text last),
httpx2's then httpx's exceptions, the standard library's, any exception carrying an HTTP
status (``status_code`` on it or its ``response``), and last its ``__cause__`` chain, a few
levels deep (the outer type name is kept). The trap: :meth:`Classifier.classify` never
raises (``unknown`` at worst); a rule that raises is skipped, logged once per episode on the
``agentguard.classify`` logger and counted in :meth:`Classifier.rule_errors`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final, TypeAlias, TypeVar, cast, overload

from agentguard import FailureEpisodes
from agentguard_classify._known import Builtin, Clock, builtin_for, qualified_name
from agentguard_classify.classification import Classification
from agentguard_classify.kinds import ErrorKind

__all__ = ["Classifier", "Rule", "classify", "default_classifier", "is_provider_fault"]

Rule: TypeAlias = Callable[[BaseException], "Classification | ErrorKind | None"]
"""A rule callable: given an exception, a :class:`Classification`, an :class:`ErrorKind`
(its status code and ``retry-after`` then come from the built-in knowledge, its
``retryable`` from the kind) or ``None`` to pass."""

_R = TypeVar("_R", bound=Rule)
_MAX_CAUSES: Final = 4
_MAX_CACHED_TYPES: Final = 4096
_logger = logging.getLogger("agentguard.classify")


@dataclass(frozen=True, slots=True)
class _TypeRule:
    exception_type: type[BaseException] | tuple[type[BaseException], ...]
    kind: ErrorKind
    retryable: bool | None
    when: Callable[[BaseException], object] | None

    def applies_to(self, cls: type) -> bool:
        return issubclass(cls, self.exception_type)

    def __call__(self, exc: BaseException) -> ErrorKind | None:
        if self.when is None or self.when(exc):
            return self.kind
        return None


@dataclass(frozen=True, slots=True)
class _Entry:
    """What the classifier worked out about one exception class."""

    builtin: Builtin
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class _State:
    """The rules and the per-class cache derived from them, swapped together."""

    rules: tuple[Rule, ...]
    entries: dict[type, _Entry]


class Classifier:
    """Classifies exceptions; holds the user's rules. See the module docstring for precedence.

    Args:
        clock: Seconds since the Unix epoch, to turn a ``retry-after`` HTTP date into seconds.
    """

    __slots__ = ("_clock", "_episodes", "_errors", "_lock", "_state")

    def __init__(self, *, clock: Clock = time.time) -> None:
        if not callable(clock):
            raise TypeError(f"clock must be a callable like time.time, got {clock!r}")
        self._clock = clock
        self._lock = threading.Lock()
        self._state = _State((), {})
        self._errors = 0
        self._episodes = FailureEpisodes(_logger)

    @overload
    def add_rule(self, rule: _R, /) -> _R: ...

    @overload
    def add_rule(
        self,
        exception_type: type[BaseException] | tuple[type[BaseException], ...],
        kind: ErrorKind | str,
        /,
        *,
        retryable: bool | None = None,
        when: Callable[[BaseException], object] | None = None,
    ) -> None: ...

    def add_rule(
        self,
        rule: Rule | type[BaseException] | tuple[type[BaseException], ...],
        kind: ErrorKind | str | None = None,
        /,
        *,
        retryable: bool | None = None,
        when: Callable[[BaseException], object] | None = None,
    ) -> Rule | None:
        """Add a rule after the existing ones; it takes precedence over the built-in knowledge.

        Either an exception type (or a tuple of them) with the kind its instances are, or a
        rule callable alone (then this returns it, so it works as a decorator)::

            classifier.add_rule(QuotaExceeded, "rate_limited", retryable=False)
            classifier.add_rule(OSError, ErrorKind.CONNECTION, when=lambda e: e.errno == 113)

            @classifier.add_rule
            def gateway(exc: BaseException) -> ErrorKind | None:
                return ErrorKind.OVERLOADED if "gateway busy" in str(exc) else None

        Args:
            rule: The exception type(s), or a :data:`Rule` callable.
            kind: The kind of the exception type's instances (an ``ErrorKind`` or its value).
            retryable: Whether they are retryable; ``None`` takes the kind's default.
            when: Only instances for which this returns true match.

        Raises:
            TypeError: ``rule`` is neither an exception type nor a callable, or options are
                given with a callable, or ``retryable``/``when`` have the wrong type.
            ValueError: ``kind`` is not an ``ErrorKind`` value.
        """
        if isinstance(rule, (type, tuple)):
            new: Rule = _TypeRule(
                _exception_types(rule), _kind(kind), _retryable(retryable), _when(when)
            )
            result: Rule | None = None
        elif callable(rule):
            if kind is not None or retryable is not None or when is not None:
                raise TypeError(
                    "a rule callable decides the kind itself; pass kind, retryable and when "
                    "only with an exception type: add_rule(MyError, 'timeout', retryable=True)"
                )
            new = result = rule
        else:
            raise TypeError(
                "add_rule() takes an exception type and a kind, or a rule callable "
                f"(exc) -> Classification | ErrorKind | None; got {rule!r}"
            )
        with self._lock:
            self._state = _State((*self._state.rules, new), {})
        return result

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules in order of precedence (type rules appear as callables)."""
        return self._state.rules

    def rule_errors(self) -> int:
        """How many times a rule raised or returned something unusable (and was skipped)."""
        return self._errors

    def classify(self, exc: BaseException) -> Classification:
        """What kind of error ``exc`` is. Never raises, whatever ``exc`` is."""
        try:
            return self._classify(exc, 0)
        except Exception:  # noqa: BLE001 (the promise: never raise, whatever the input does)
            return _last_resort(exc)

    def is_provider_fault(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the provider's fault: what a circuit breaker should count.

        True for rate limits, overload, server errors, timeouts and connection failures;
        never for request errors (4xx), spend limits, cancellation or unknown errors.
        """
        return self.classify(exc).kind.provider_fault

    def _classify(self, exc: BaseException, depth: int) -> Classification:
        cls = type(exc)
        state = self._state
        entry = state.entries.get(cls)
        if entry is None:
            entry = self._entry(cls, state)
        for rule in entry.rules:
            answer = self._apply(rule, exc, entry)
            if answer is not None:
                return answer
        result = entry.builtin(exc, self._clock)
        if result.kind is ErrorKind.UNKNOWN and depth < _MAX_CAUSES:
            cause = getattr(exc, "__cause__", None)
            if cause is not None and cause is not exc:
                inner = self._classify(cause, depth + 1)
                if inner.kind is not ErrorKind.UNKNOWN:
                    return replace(inner, exception_type=result.exception_type)
        return result

    def _entry(self, cls: type, state: _State) -> _Entry:
        rules = tuple(
            rule for rule in state.rules if not isinstance(rule, _TypeRule) or rule.applies_to(cls)
        )
        entry = _Entry(builtin_for(cls), rules)
        if len(state.entries) >= _MAX_CACHED_TYPES:
            state.entries.clear()
        state.entries[cls] = entry
        return entry

    def _apply(self, rule: Rule, exc: BaseException, entry: _Entry) -> Classification | None:
        try:
            answer = rule(exc)
            if answer is None:
                return None
            if isinstance(answer, ErrorKind):
                builtin = entry.builtin(exc, self._clock)
                if isinstance(rule, _TypeRule) and rule.retryable is not None:
                    return replace(builtin, kind=answer, retryable=rule.retryable)
                return replace(builtin, kind=answer, retryable=answer.retryable_by_default)
            if _is_classification(answer):
                return answer
            message = (
                f"rule {rule!r} returned {answer!r}; a rule returns a Classification, "
                "an ErrorKind or None"
            )
            error: Exception | None = None
        except Exception as exc_in_rule:  # noqa: BLE001 (a failing rule must not break classify)
            message, error = f"rule {rule!r} raised; it is skipped", exc_in_rule
        with self._lock:
            self._errors += 1
        self._episodes.failed("rule", message, error)
        return None


def _is_classification(answer: object) -> bool:
    """Whether a rule's answer is a ``Classification`` that holds an ``ErrorKind``.

    Types are not checked at run time: a rule may return anything, or build its
    ``Classification`` with a string for a kind.
    """
    return isinstance(answer, Classification) and isinstance(
        getattr(answer, "kind", None), ErrorKind
    )


def _exception_types(
    value: object,
) -> type[BaseException] | tuple[type[BaseException], ...]:
    types = value if isinstance(value, tuple) else (value,)
    if not types or not all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
        raise TypeError(
            "add_rule() needs an exception class (or a non-empty tuple of them), "
            f"like add_rule(TimeoutError, 'timeout'); got {value!r}"
        )
    return cast("type[BaseException] | tuple[type[BaseException], ...]", value)


def _kind(kind: object) -> ErrorKind:
    if isinstance(kind, ErrorKind):
        return kind
    if isinstance(kind, str):
        try:
            return ErrorKind(kind)
        except ValueError:
            pass
        known = ", ".join(k.value for k in ErrorKind)
        raise ValueError(f"unknown error kind {kind!r}; use an ErrorKind or one of: {known}")
    raise TypeError(f"kind must be an ErrorKind or its string value, got {kind!r}")


def _retryable(retryable: object) -> bool | None:
    if retryable is None or isinstance(retryable, bool):
        return retryable
    raise TypeError(f"retryable must be True, False or None, got {retryable!r}")


def _when(when: object) -> Callable[[BaseException], object] | None:
    if when is None or callable(when):
        return when
    raise TypeError(f"when must be a predicate (exc) -> bool or None, got {when!r}")


def _last_resort(exc: object) -> Classification:
    try:
        name = qualified_name(type(exc))
    except Exception:  # noqa: BLE001 (even a class whose name cannot be read gets an answer)
        name = "?"
    return Classification(kind=ErrorKind.UNKNOWN, retryable=False, exception_type=name)


default_classifier: Final = Classifier()
"""The classifier :func:`classify` and :func:`is_provider_fault` use; add your rules to it."""


def classify(exc: BaseException) -> Classification:
    """What kind of error ``exc`` is, by :data:`default_classifier`. Never raises.

    Example::

        try:
            client.messages.create(...)
        except anthropic.APIError as exc:
            c = classify(exc)
            if c.retryable:
                time.sleep(c.retry_after_s or 1.0)
    """
    return default_classifier.classify(exc)


def is_provider_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is the provider's fault (see :meth:`Classifier.is_provider_fault`)."""
    return default_classifier.classify(exc).kind.provider_fault
