"""Hypothesis strategies for events of every class, built from the catalog's field types."""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, Literal, Union
from unittest import mock

from hypothesis import strategies as st

from agentguard import _codegen, events
from agentguard.events import EVENT_TYPES, Event


def for_type(annotation: object, *, finite: bool = True) -> st.SearchStrategy[Any]:
    """Values of a field's declared type; ``finite=False`` adds NaN and the infinities."""
    if annotation is type(None):
        return st.none()
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(min_value=-(2**62), max_value=2**62)
    if annotation is float:
        return st.floats(allow_nan=not finite, allow_infinity=not finite)
    if annotation is str:
        return st.text()
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return st.sampled_from(args)
    if origin in (Union, types.UnionType):
        return st.one_of(*(for_type(arg, finite=finite) for arg in args))
    if origin is Mapping:
        return st.dictionaries(st.text(), st.text(), max_size=5)
    raise AssertionError(f"no strategy for {annotation!r}")


def any_event(*, finite: bool = True, **fixed: st.SearchStrategy[Any]) -> st.SearchStrategy[Event]:
    """An event of any class, every field drawn from its type; ``fixed`` overrides fields."""

    def for_class(cls: type[Event]) -> st.SearchStrategy[Event]:
        hints = typing.get_type_hints(cls, vars(events))
        fields = {f.name: for_type(hints[f.name], finite=finite) for f in dataclasses.fields(cls)}
        fields.update(fixed)
        return st.builds(cls, **fields)

    return st.one_of(*(for_class(cls) for cls in EVENT_TYPES))


@contextlib.contextmanager
def generated_code(enabled: bool) -> Iterator[None]:
    """Rules compiled inside compile (``True``) or interpret (``False``), whatever the
    environment says (``AGENTGUARD_NO_CODEGEN``)."""
    with mock.patch.object(_codegen, "ENABLED", enabled):
        yield
