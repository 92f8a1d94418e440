"""What the classifier knows without being told, looked up once per exception class.

It knows the anthropic SDK's exceptions, httpx2's, httpx's and the standard library's.

The libraries are never imported here. An exception of theirs can exist only once they are
imported, so their classes are looked up in :data:`sys.modules` when an exception class is
first seen, by name and with ``getattr`` (anthropic 1.0 lacks many of 2.x's classes), and
the tables found are kept. Each table maps a class to a *factory* that, given the exception
type's name, makes the function that classifies its instances.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Final, TypeAlias

from agentguard.errorkinds import (
    STDLIB_KINDS,
    ErrorKind,
    api_error_kind,
    http_status,
    kind_of,
    retryable,
)
from agentguard_classify._http import read_headers, retry_after_s
from agentguard_classify.classification import Classification

Clock: TypeAlias = Callable[[], float]
Builtin: TypeAlias = Callable[[object, Clock], Classification]
"""Classifies an instance of one exception class, reading the clock for HTTP dates."""
Factory: TypeAlias = Callable[[str], Builtin]
"""Makes the :data:`Builtin` of one exception class, given its qualified name."""
Table: TypeAlias = Mapping[type, Factory]

_K = ErrorKind


def constant(kind: ErrorKind, *, retry: bool | None = None) -> Factory:
    """A factory of builtins that always answer ``kind`` (one object per class, no work)."""

    def factory(name: str) -> Builtin:
        answer = Classification(
            kind=kind,
            retryable=kind.retryable_by_default if retry is None else retry,
            exception_type=name,
        )

        def builtin(exc: object, clock: Clock) -> Classification:
            return answer

        return builtin

    return factory


def _anthropic_status(class_kind: ErrorKind | None) -> Factory:
    """Factory for ``APIStatusError`` and its subclasses.

    ``class_kind`` is what the class stands for; ``None`` for the generic classes, which are
    judged by status, then ``error.type``.
    """

    def factory(name: str) -> Builtin:
        def builtin(exc: object, clock: Clock) -> Classification:
            status = http_status(getattr(exc, "status_code", None))
            kind = api_error_kind(exc, status=status, class_kind=class_kind)
            headers = read_headers(getattr(getattr(exc, "response", None), "headers", None))
            if status is not None and status < 400:
                status = None  # an error event inside a stream that began with 200
            return _answered(kind, status, headers, name, clock)

        return builtin

    return factory


def _answered(
    kind: ErrorKind,
    status: int | None,
    headers: Mapping[str, str],
    name: str,
    clock: Clock,
    *,
    should_retry: bool = True,
) -> Classification:
    """The classification of an error that came with an HTTP response.

    ``should_retry``: whether the server's ``x-should-retry`` header may decide ``retryable``.
    """
    server_says = headers.get("x-should-retry") if should_retry else None
    return Classification(
        kind=kind,
        retryable=retryable(kind, status, server_says),
        exception_type=name,
        status_code=status,
        retry_after_s=retry_after_s(headers, clock),
    )


def _http_status_error(name: str) -> Builtin:
    """Builtin for httpx2's and httpx's ``HTTPStatusError``: the response's status and headers."""

    def builtin(exc: object, clock: Clock) -> Classification:
        response = getattr(exc, "response", None)
        status = http_status(getattr(response, "status_code", None))
        headers = read_headers(getattr(response, "headers", None))
        return _answered(kind_of(status=status), status, headers, name, clock)

    return builtin


def _duck_typed(name: str) -> Builtin:
    """Builtin for classes nobody knows: unknown, unless they carry an HTTP status.

    A ``status_code`` on the exception or on its ``response``, as other SDKs' errors carry,
    still tells the kind.
    """
    unknown = Classification(kind=_K.UNKNOWN, retryable=False, exception_type=name)

    def builtin(exc: object, clock: Clock) -> Classification:
        response = getattr(exc, "response", None)
        status = http_status(getattr(exc, "status_code", None))
        if status is None:
            status = http_status(getattr(response, "status_code", None))
        if status is None or status < 400:
            return unknown
        headers = read_headers(getattr(response, "headers", None))
        # A status from an unknown library: its x-should-retry header is not trusted.
        return _answered(kind_of(status=status), status, headers, name, clock, should_retry=False)

    return builtin


def _retryable_error(name: str) -> Builtin:
    """Builtin for ``anthropic.RetryableError``: middleware asking for a retry; kind unknown."""
    return constant(_K.UNKNOWN, retry=True)(name)


_ANTHROPIC: Final[tuple[tuple[str, Factory], ...]] = (
    ("APITimeoutError", constant(_K.TIMEOUT)),
    ("APIConnectionError", constant(_K.CONNECTION)),
    ("EnforcedSpendLimitReachedError", _anthropic_status(_K.SPEND_LIMITED)),
    ("ContractSpendLimitReachedError", _anthropic_status(_K.SPEND_LIMITED)),
    ("LinkedOrganizationSpendLimitReachedError", _anthropic_status(_K.SPEND_LIMITED)),
    ("BadRequestError", _anthropic_status(_K.INVALID_REQUEST)),
    ("AuthenticationError", _anthropic_status(_K.AUTH)),
    ("PaymentRequiredError", _anthropic_status(_K.SPEND_LIMITED)),
    ("PermissionDeniedError", _anthropic_status(_K.PERMISSION)),
    ("NotFoundError", _anthropic_status(_K.NOT_FOUND)),
    ("RequestTimeoutError", _anthropic_status(_K.TIMEOUT)),
    ("ConflictError", _anthropic_status(_K.INVALID_REQUEST)),
    ("PreconditionFailedError", _anthropic_status(_K.INVALID_REQUEST)),
    ("ContentTooLargeError", _anthropic_status(_K.REQUEST_TOO_LARGE)),
    ("UnprocessableEntityError", _anthropic_status(_K.INVALID_REQUEST)),
    ("RateLimitError", _anthropic_status(_K.RATE_LIMITED)),
    ("RequestHeaderFieldsTooLargeError", _anthropic_status(_K.REQUEST_TOO_LARGE)),
    ("ClientClosedRequestError", _anthropic_status(_K.CANCELLED)),
    ("HTTPNotImplementedError", _anthropic_status(_K.SERVER_ERROR)),
    ("ServiceUnavailableError", _anthropic_status(_K.SERVER_ERROR)),
    ("GatewayTimeoutError", _anthropic_status(_K.TIMEOUT)),
    ("OverloadedError", _anthropic_status(_K.OVERLOADED)),
    ("InternalServerError", _anthropic_status(None)),
    ("APIStatusError", _anthropic_status(None)),
    ("APIResponseValidationError", _duck_typed),
    ("CredentialsError", constant(_K.AUTH)),
    ("RetryableError", _retryable_error),
    ("AnthropicError", constant(_K.UNKNOWN)),
)
"""anthropic's classes by name, most specific first (a missing name is skipped)."""

_HTTPX: Final[tuple[tuple[str, Factory], ...]] = (
    ("TimeoutException", constant(_K.TIMEOUT)),
    ("UnsupportedProtocol", constant(_K.INVALID_REQUEST)),
    ("TransportError", constant(_K.CONNECTION)),
    ("HTTPStatusError", _http_status_error),
)
"""httpx2's and httpx's classes by name (the two share their exception tree)."""

_STDLIB: Final[Table] = {cls: constant(kind) for cls, kind in STDLIB_KINDS.items()}
"""The standard library's classes, from :data:`agentguard.errorkinds.STDLIB_KINDS`."""

_LIBRARIES: Final[tuple[tuple[str, tuple[tuple[str, Factory], ...]], ...]] = (
    ("anthropic", _ANTHROPIC),
    ("httpx2", _HTTPX),
    ("httpx", _HTTPX),
)
"""The libraries in the order they are consulted, before the standard library."""

_found: dict[str, Table] = {}


def _table(library: str, names: tuple[tuple[str, Factory], ...]) -> Table | None:
    table = _found.get(library)
    if table is not None:
        return table
    module = sys.modules.get(library)
    if module is None or _importing(module):
        return None
    table = {}
    for attribute, factory in names:
        cls = getattr(module, attribute, None)
        if isinstance(cls, type) and cls not in table:
            table[cls] = factory
    _found[library] = table
    return table


def _importing(module: ModuleType) -> bool:
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def builtin_for(cls: type) -> Builtin:
    """How to classify instances of ``cls``.

    The first library (in :data:`_LIBRARIES` order, then the standard library) that knows a
    class in its MRO decides, by the most specific class it knows.
    """
    name = qualified_name(cls)
    mro = cls.__mro__
    for library, names in _LIBRARIES:
        table = _table(library, names)
        if table:
            for base in mro:
                factory = table.get(base)
                if factory is not None:
                    return factory(name)
    for base in mro:
        factory = _STDLIB.get(base)
        if factory is not None:
            return factory(name)
    return _duck_typed(name)


def qualified_name(cls: type) -> str:
    """The name of ``cls`` by its public path; builtins by their bare name.

    ``anthropic.RateLimitError`` rather than ``anthropic._exceptions.RateLimitError``.
    """
    qualname = getattr(cls, "__qualname__", None)
    if not isinstance(qualname, str):
        qualname = str(getattr(cls, "__name__", "?"))
    module = getattr(cls, "__module__", None)
    if not isinstance(module, str) or module == "builtins":
        return qualname
    if "." not in qualname and "<" not in qualname:
        parts = module.split(".")
        for end in range(1, len(parts)):
            prefix = ".".join(parts[:end])
            exporter = sys.modules.get(prefix)
            if exporter is not None and _exports(exporter, qualname, cls):
                return f"{prefix}.{qualname}"
    return f"{module}.{qualname}"


def _exports(module: ModuleType, name: str, cls: type) -> bool:
    try:
        return getattr(module, name, None) is cls
    except Exception:  # noqa: BLE001 (a module's __getattr__ may fail any way; then it does not export it)
        return False
