"""Canonical keys for tool arguments, results and errors: equal values, equal keys; never raises.

Arguments are JSON with sorted keys; what JSON cannot carry takes a slow path (non-string keys
with their type, sets sorted, cycles ``"<cycle>"``, other objects their ``repr``, then the type
name). A text past :data:`MAX_KEY_CHARS` is kept as its BLAKE2b digest, never cut. Work is
bounded whatever the value: the C encoder runs only after a probe (:data:`FAST_NODES`,
:data:`FAST_CHARS`); the slow path walks at most :data:`MAX_NODES` values and keeps a string
past :data:`MAX_STRING_CHARS` as its length and a digest of its ends. The trap: two huge
values that differ only where nothing was read get the same key (the guard may see a repeat).
Details and figures: docs/architecture.md, "The loop guard".
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable
from typing import TypeAlias

Key: TypeAlias = "str | bytes"
"""A canonical key: the text itself when short, else the digest of the text."""

MAX_KEY_CHARS = 64
"""Texts longer than this are kept as a digest."""
FAST_NODES = 4_096
"""Values the probe looks at before it sends a value down the bounded slow path."""
FAST_CHARS = 262_144
"""Characters of strings the fast path takes at most."""
MAX_NODES = 512
"""Values the slow path walks; past them containers are cut (``"<+N more>"``)."""
MAX_STRING_CHARS = 1_024
"""A string (bytes, ``repr``) longer than this is kept as its length and a prefix digest."""
PREFIX_CHARS = 65_536
"""Characters at each end of a long string that its digest covers."""
HASH_BUDGET_CHARS = 262_144
"""Characters the slow path keeps or hashes for one value, all strings together."""
_MAX_DEPTH = 64
_PLAIN = frozenset({int, float, bool, type(None)})

_HUGE_INT = 10**300


def _compact(text: str) -> Key:
    if len(text) <= MAX_KEY_CHARS:
        return text
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _type_name(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class _Walker:
    """The slow path: turns anything into plain JSON values within a node and character budget."""

    __slots__ = ("budget", "nodes", "path")

    def __init__(self) -> None:
        self.nodes = 0
        self.budget = HASH_BUDGET_CHARS
        self.path: set[int] = set()

    def walk(self, obj: object, depth: int) -> object:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            return "<truncated>"
        if obj is None or isinstance(obj, (bool, float)):
            return obj
        if isinstance(obj, str):
            return self._string(obj, "str")
        if isinstance(obj, int):
            try:
                return int(obj) if abs(obj) < _HUGE_INT else f"<int {hash(obj)}>"
            except Exception:  # noqa: BLE001 (an int subclass may misbehave)
                return self._repr(obj)
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
            return self._bytes(obj)
        return self._repr(obj)

    def _repr(self, obj: object) -> str:
        """An object JSON does not know: its type and its ``repr`` (cut), or just its type."""
        try:
            text = repr(obj)
        except Exception:  # noqa: BLE001 (a user's __repr__ may raise anything; a key must not)
            return f"<{_type_name(obj)}>"
        if len(text) <= MAX_STRING_CHARS and len(text) <= self.budget:
            self.budget -= len(text)
            return f"<{_type_name(obj)} {text}>"
        return self._string(text, f"{_type_name(obj)} repr")

    def _string(self, text: str, kind: str) -> str:
        """``text`` itself when short and the budget allows, else its length and a digest."""
        size = len(text)
        if size <= MAX_STRING_CHARS and size <= self.budget:
            self.budget -= size
            return text
        cut = min(size, PREFIX_CHARS, self.budget // 2)
        if cut <= 0:
            return f"<{kind} {size} chars>"
        self.budget -= 2 * cut
        ends = (text[:cut] + text[-cut:]).encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(ends, digest_size=16).hexdigest()
        return f"<{kind} {size} chars, blake2b of the first and last {cut}: {digest}>"

    def _bytes(self, data: bytes | bytearray | memoryview) -> str:
        try:
            size = data.nbytes if isinstance(data, memoryview) else len(data)
            cut = min(size, PREFIX_CHARS, self.budget // 2)
            self.budget -= 2 * cut
            flat = data.cast("B") if isinstance(data, memoryview) else data
            ends = bytes(flat[:cut]) + bytes(flat[size - cut :]) if cut else b""
            digest = hashlib.blake2b(ends, digest_size=16).hexdigest()
        except Exception:  # noqa: BLE001 (a strided or released memoryview)
            return f"<{_type_name(data)}>"
        return f"<bytes {size} bytes, blake2b of the first and last {cut}: {digest}>"

    def _room(self, size: int) -> int:
        """How many items of a container of ``size`` fit in what is left of the node budget."""
        return max(0, min(size, MAX_NODES - self.nodes))

    def _container(
        self,
        obj: dict[object, object]
        | list[object]
        | tuple[object, ...]
        | set[object]
        | frozenset[object],
        depth: int,
    ) -> object:
        size = len(obj)
        room = self._room(size)
        more = f"<+{size - room} more>" if room < size else None
        if isinstance(obj, dict):
            items = [
                (self._key_text(key, depth), self.walk(value, depth))
                for key, value in itertools.islice(obj.items(), room)
            ]
            items.sort(key=lambda item: item[0])
            if more is not None:
                items.append((more, None))
            return dict(items)
        if isinstance(obj, (set, frozenset)):
            texts = sorted(self._text(item, depth) for item in itertools.islice(obj, room))
            return [*texts, more] if more is not None else texts
        walked = [self.walk(item, depth) for item in itertools.islice(obj, room)]
        return [*walked, more] if more is not None else walked

    def _key_text(self, key: object, depth: int) -> str:
        if isinstance(key, str):
            return self._string(key, "str")
        return f"<{type(key).__name__}>{self._text(key, depth)}"

    def _text(self, obj: object, depth: int) -> str:
        return json.dumps(self.walk(obj, depth), sort_keys=True, separators=(",", ":"))


def _small(value: object) -> bool:
    """Whether ``value`` is plain JSON within :data:`FAST_NODES` and :data:`FAST_CHARS`.

    Exact types only (a subclass, a non-string key, anything else takes the slow path); a
    cycle runs out of the node budget. Scalars are looked at in their container's loop, so a
    flat dict of a few fields costs one pass over it.
    """
    plain = _PLAIN
    if type(value) is str:
        return len(value) <= FAST_CHARS
    if type(value) in plain:
        return True
    stack: list[object] = [value]  # containers only: scalars are looked at in their loop
    nodes = chars = 0
    while stack:
        obj = stack.pop()
        cls = type(obj)
        if cls is not dict and cls is not list and cls is not tuple:
            return False
        nodes += len(obj)  # type: ignore[arg-type]  # a dict, list or tuple
        if nodes > FAST_NODES:
            return False
        items: Iterable[object] = obj  # type: ignore[assignment]  # same
        if cls is dict:
            for key in obj:  # type: ignore[attr-defined]  # a dict
                if type(key) is not str:
                    return False
                chars += len(key)
            items = obj.values()  # type: ignore[attr-defined]  # same
        for item in items:
            kind = type(item)
            if kind is str:
                chars += len(item)  # type: ignore[arg-type]  # a str
            elif kind not in plain:
                stack.append(item)
        if chars > FAST_CHARS:
            return False
    return chars <= FAST_CHARS


def _fast_default(obj: object) -> object:
    raise TypeError  # anything JSON does not know takes the slow path


_fast = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_fast_default).encode


def canonical_text(value: object) -> str:
    """The canonical JSON-like text of ``value``; never raises (except ``BaseException``).

    Bounded work whatever ``value`` holds (see the module docstring).
    """
    if _small(value):
        try:
            return _fast(value)
        except Exception:  # noqa: BLE001, S110 (huge ints, deep nesting: the slow path below)
            pass
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
