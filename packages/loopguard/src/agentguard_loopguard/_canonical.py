"""Canonical keys for tool arguments, results and errors: equal values, equal keys; never raises.

Arguments are written as JSON with sorted keys (so ``{"a": 1, "b": 2}`` and ``{"b": 2, "a": 1}``
are the same call). What JSON cannot carry takes the slow path: non-string keys are written
with their type, sets are sorted, cycles become ``"<cycle>"``, other objects their ``repr``,
and anything that still fails its type name. A text longer than :data:`MAX_KEY_CHARS` is kept
as a 16-byte BLAKE2b digest of the whole text, never cut (a cut would make different
arguments look equal), so each key costs at most a few dozen bytes of memory.
"""

from __future__ import annotations

import hashlib
import json
from typing import TypeAlias

Key: TypeAlias = "str | bytes"
"""A canonical key: the text itself when short, else the digest of the text."""

MAX_KEY_CHARS = 64
"""Texts longer than this are kept as a digest."""
_MAX_DEPTH = 64
_MAX_NODES = 20_000

_HUGE_INT = 10**300


def _compact(text: str) -> Key:
    if len(text) <= MAX_KEY_CHARS:
        return text
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _type_name(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _opaque(obj: object) -> str:
    """An object JSON does not know: its type and its ``repr``, or just its type."""
    try:
        return f"<{_type_name(obj)} {obj!r}>"
    except Exception:  # noqa: BLE001 (a user's __repr__ may raise anything; a key must not)
        return f"<{_type_name(obj)}>"


class _Walker:
    """The slow path: turns anything into plain JSON values within a node budget."""

    __slots__ = ("nodes", "path")

    def __init__(self) -> None:
        self.nodes = 0
        self.path: set[int] = set()

    def walk(self, obj: object, depth: int) -> object:
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            return "<truncated>"
        if obj is None or isinstance(obj, (bool, float, str)):
            return obj
        if isinstance(obj, int):
            try:
                return int(obj) if abs(obj) < _HUGE_INT else f"<int {hash(obj)}>"
            except Exception:  # noqa: BLE001 (an int subclass may misbehave)
                return _opaque(obj)
        if depth > _MAX_DEPTH:
            return "<too deep>"
        if isinstance(obj, (dict, list, tuple, set, frozenset)):
            if id(obj) in self.path:
                return "<cycle>"
            self.path.add(id(obj))
            try:
                return self._container(obj, depth + 1)
            finally:
                self.path.discard(id(obj))
        if isinstance(obj, (bytes, bytearray, memoryview)):
            data = bytes(obj)
            return "<bytes " + hashlib.blake2b(data, digest_size=16).hexdigest() + ">"
        return _opaque(obj)

    def _container(
        self,
        obj: dict[object, object]
        | list[object]
        | tuple[object, ...]
        | set[object]
        | frozenset[object],
        depth: int,
    ) -> object:
        if isinstance(obj, dict):
            items = [
                (self._key_text(key, depth), self.walk(value, depth)) for key, value in obj.items()
            ]
            items.sort(key=lambda item: item[0])
            return dict(items)
        if isinstance(obj, (set, frozenset)):
            return sorted(self._text(item, depth) for item in obj)
        return [self.walk(item, depth) for item in obj]

    def _key_text(self, key: object, depth: int) -> str:
        if isinstance(key, str):
            return key
        return f"<{type(key).__name__}>{self._text(key, depth)}"

    def _text(self, obj: object, depth: int) -> str:
        return json.dumps(self.walk(obj, depth), sort_keys=True, separators=(",", ":"))


def _fast_default(obj: object) -> object:
    raise TypeError  # anything JSON does not know takes the slow path


_fast = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_fast_default).encode


def canonical_text(value: object) -> str:
    """The canonical JSON-like text of ``value``; never raises (except ``BaseException``)."""
    try:
        return _fast(value)
    except Exception:  # noqa: BLE001 (foreign objects, cycles, deep nesting: the slow path)
        return _slow_text(value)


def _slow_text(value: object) -> str:
    try:
        return json.dumps(_Walker().walk(value, 0), sort_keys=True, separators=(",", ":"))
    except Exception:  # noqa: BLE001 (the last resort: a key must never fail)
        return f"<{_type_name(value)}>"


def canonical_key(value: object) -> Key:
    """The key of ``value``: equal for equal JSON-like values, at most 64 characters or 16 bytes."""
    return _compact(canonical_text(value))


def error_key(error: BaseException | str) -> Key:
    """The key of an error: its type and message (a string error is taken as the message)."""
    if isinstance(error, str):
        return _compact("error:" + error)
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 (a user's __str__ may raise anything)
        message = ""
    return _compact(f"{_type_name(error)}:{message}")
