"""The one JSON codec for events.

A document is a JSON object holding ``schema`` (:data:`SCHEMA_VERSION`), ``kind`` and every
field of the event by name; times stay in Unix seconds and ``null`` stands for ``None``::

    {"schema": 1, "kind": "tool.call", "at_unix_s": 1767225600.0, "run_id": null, ...}

Decoding checks everything before it builds anything: the schema version, the kind, that
every field without a default is present, that no unknown field is, and each value's type.
It never reads the run context or the clock: a decoded event is the event that was encoded.
Adding a field to an event raises :data:`SCHEMA_VERSION`, so an older reader refuses a newer
document plainly instead of dropping what it does not know.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union

from agentguard import events as _events_module
from agentguard.errors import (
    EventDecodeError,
    EventEncodeError,
    UnknownEventKind,
    UnsupportedSchemaVersion,
)
from agentguard.events import EVENT_TYPES, EVENTS_BY_KIND, BaseEvent, Event

__all__ = ["SCHEMA_VERSION", "from_dict", "from_json", "to_dict", "to_json"]

SCHEMA_VERSION = 1
"""The version of the document layout this agentguard writes and the newest it reads."""

_Check = Callable[[object], object]
"""Returns the value to store, or raises ``_Invalid`` with what was expected."""


class _Invalid(Exception):  # noqa: N818 (internal signal, never escapes this module)
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class _FieldSpec:
    name: str
    check: _Check
    required: bool


def to_dict(event: Event) -> dict[str, Any]:
    """Return the JSON-ready document of ``event`` (see the module docstring).

    Raises:
        TypeError: ``event`` is not an event of the catalog.
        EventEncodeError: A field holds a value JSON cannot carry, such as NaN.
    """
    if type(event) not in _CATALOG:
        raise TypeError(f"expected an event from agentguard.events, got {type(event).__qualname__}")
    document: dict[str, Any] = {"schema": SCHEMA_VERSION, "kind": event.kind}
    for spec in _specs(type(event)):
        value = getattr(event, spec.name)
        try:
            document[spec.name] = spec.check(value)
        except _Invalid as why:
            raise EventEncodeError(
                f"cannot encode {event.kind} field {spec.name!r}={value!r}: expected {why}",
                field=spec.name,
            ) from None
    return document


def to_json(event: Event) -> str:
    """Return ``event`` as a compact JSON string (see :func:`to_dict` for the errors)."""
    return json.dumps(to_dict(event), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def from_dict(document: Mapping[str, Any]) -> Event:
    """Build the event a document describes, checking every field first.

    Raises:
        UnsupportedSchemaVersion: The document is of a newer schema version.
        UnknownEventKind: ``kind`` names no event of the catalog.
        EventDecodeError: Anything else is wrong; ``field`` says which field.
    """
    if not isinstance(document, Mapping):
        raise EventDecodeError(f"an event document is a JSON object, got {type(document).__name__}")
    version = document.get("schema")
    if type(version) is not int or version < 1:
        if "schema" not in document:
            raise EventDecodeError("the document has no 'schema' version", field="schema")
        raise EventDecodeError(
            f"'schema' must be a positive integer, got {version!r}", field="schema"
        )
    if version > SCHEMA_VERSION:
        raise UnsupportedSchemaVersion(version, SCHEMA_VERSION)
    kind = document.get("kind")
    cls = EVENTS_BY_KIND.get(kind) if isinstance(kind, str) else None
    if cls is None:
        if "kind" not in document:
            raise EventDecodeError("the document has no 'kind'", field="kind")
        raise UnknownEventKind(kind)
    specs = _specs(cls)
    known = {spec.name for spec in specs}
    unknown = sorted(set(document) - known - {"schema", "kind"})
    if unknown:
        raise EventDecodeError(
            f"{kind} has no field {unknown[0]!r} (schema version {version})", field=unknown[0]
        )
    values: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in document:
            if spec.required:
                raise EventDecodeError(f"{kind} is missing field {spec.name!r}", field=spec.name)
            continue
        raw = document[spec.name]
        try:
            values[spec.name] = spec.check(raw)
        except _Invalid as why:
            raise EventDecodeError(
                f"{kind} field {spec.name!r} must be {why}, got {raw!r}", field=spec.name
            ) from None
    return cls(**values)


def from_json(text: str | bytes) -> Event:
    """Build the event a JSON document describes (see :func:`from_dict` for the errors)."""
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, EventDecodeError):
            raise
        raise EventDecodeError(f"not valid JSON: {exc}") from None
    return from_dict(document)


def _reject_constant(name: str) -> float:
    raise EventDecodeError(f"JSON constant {name} is not allowed in an event")


def _check_for(annotation: object) -> tuple[_Check, str]:
    """Return a checker for one annotation and the words for what it expects."""
    if annotation is type(None):
        return _check_none, "null"
    if annotation is bool:
        return _check_bool, "a boolean"
    if annotation is int:
        return _check_int, "an integer"
    if annotation is float:
        return _check_float, "a finite number"
    if annotation is str:
        return _check_str, "a string"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        allowed = frozenset(args)
        words = " or ".join(repr(a) for a in args)

        def check_literal(value: object) -> object:
            if isinstance(value, str) and value in allowed:
                return value
            raise _Invalid(words)

        return check_literal, words
    if origin in (Union, types.UnionType):
        parts = [_check_for(arg) for arg in args]
        words = " or ".join(w for _, w in parts)

        def check_union(value: object) -> object:
            for check, _ in parts:
                try:
                    return check(value)
                except _Invalid:
                    continue
            raise _Invalid(words)

        return check_union, words
    if origin is Mapping or annotation is Mapping:
        return _check_str_mapping, "an object of strings"
    raise TypeError(f"the event codec cannot handle the annotation {annotation!r}")


def _check_none(value: object) -> object:
    if value is None:
        return None
    raise _Invalid("null")


def _check_bool(value: object) -> object:
    if type(value) is bool:
        return value
    raise _Invalid("a boolean")


def _check_int(value: object) -> object:
    if type(value) is int:
        return value
    raise _Invalid("an integer")


def _check_float(value: object) -> object:
    if type(value) in (float, int) and math.isfinite(value):  # type: ignore[arg-type]  # checked
        return float(value)  # type: ignore[arg-type]  # checked just above
    raise _Invalid("a finite number")


def _check_str(value: object) -> object:
    if type(value) is str:
        return value
    raise _Invalid("a string")


def _check_str_mapping(value: object) -> object:
    if isinstance(value, Mapping) and all(
        type(k) is str and type(v) is str for k, v in value.items()
    ):
        return dict(value)
    raise _Invalid("an object of strings")


def _specs(cls: type[Any]) -> tuple[_FieldSpec, ...]:
    """The field specs of ``cls``, worked out on first use (not at import) and kept."""
    cached = _SPECS.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls, vars(_events_module))
    specs = []
    for f in dataclasses.fields(cls):
        check, _ = _check_for(hints[f.name])
        has_default = not (
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        # The common fields default to the clock and the run context: a decoded event must
        # carry its own, never the decoder's.
        required = not has_default or f.name in _COMMON_FIELDS
        specs.append(_FieldSpec(f.name, check, required=required))
    _SPECS[cls] = tuple(specs)
    return _SPECS[cls]


_SPECS: dict[type[Any], tuple[_FieldSpec, ...]] = {}
_CATALOG = frozenset(EVENT_TYPES)
_COMMON_FIELDS = frozenset(f.name for f in dataclasses.fields(BaseEvent))
