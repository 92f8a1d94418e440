from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentguard import Bus
from agentguard_loopguard import LoopGuard
from agentguard_loopguard._canonical import (
    MAX_KEY_CHARS,
    MAX_NODES,
    canonical_key,
    canonical_text,
    error_key,
)


class Opaque:
    def __init__(self, value: int) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Opaque({self.value})"


class Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")

    def __str__(self) -> str:
        raise RuntimeError("no str either")


def small(key: object) -> bool:
    return (isinstance(key, str) and len(key) <= MAX_KEY_CHARS) or (
        isinstance(key, bytes) and len(key) == 16
    )


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)
weird = st.recursive(
    st.none()
    | st.integers()
    | st.floats()
    | st.text()
    | st.binary()
    | st.builds(Opaque, st.integers())
    | st.builds(Hostile)
    | st.just(math.nan)
    | st.builds(pow, st.just(10), st.just(5000)),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.frozensets(st.integers() | st.text(max_size=3), max_size=3)
        | st.dictionaries(
            st.text(max_size=3) | st.integers() | st.tuples(st.integers()) | st.none(),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(weird)
@settings(max_examples=300)
def test_canonicalization_never_raises_and_is_deterministic(value: Any) -> None:
    first = canonical_key(value)
    assert first == canonical_key(value)
    assert small(first)


@given(st.dictionaries(st.text(max_size=5), json_like, max_size=6))
def test_key_order_does_not_matter(value: dict[str, Any]) -> None:
    reordered = dict(reversed(list(value.items())))
    assert canonical_key(value) == canonical_key(reordered)


@given(json_like, json_like)
def test_different_json_values_get_different_keys(a: Any, b: Any) -> None:
    import json

    if json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True):
        assert canonical_key(a) != canonical_key(b)


def test_cycles_huge_blobs_and_hostile_objects() -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    mapping: dict[str, Any] = {"a": 1}
    mapping["self"] = mapping
    deep: list[Any] = []
    node = deep
    for _ in range(5_000):
        node.append([])
        node = node[0]
    blob = "x" * 5_000_000
    values = [
        cyclic,
        mapping,
        deep,
        blob,
        {"blob": blob},
        b"\x00" * 1_000_000,
        {1: "a", "1": "b", None: 2, (1, 2): 3},
        Hostile(),
        {"h": Hostile()},
        {Hostile(): 1},
        10**5000,
        [math.inf, -math.inf, math.nan],
        {1, 2, 3},
        object,
        "\ud800",  # a lone surrogate
    ]
    for value in values:
        assert small(canonical_key(value))
    assert canonical_key(blob) != canonical_key(blob[:-1] + "y")  # both ends are hashed
    assert canonical_key(blob) != canonical_key("y" + blob[1:])
    assert canonical_key(blob) != canonical_key(blob + "x")  # and the length is in the key
    assert canonical_key({"b": 1, "a": 2}) == canonical_key({"a": 2, "b": 1})
    assert canonical_key({1, 2, 3}) == canonical_key({3, 2, 1})
    assert small(error_key(Hostile()))  # type: ignore[arg-type]  # a non-exception, defended
    assert error_key(ValueError("x")) != error_key(TypeError("x"))


def test_the_guard_takes_weird_arguments_and_still_sees_repeats() -> None:
    guard = LoopGuard(bus=Bus(name="test"))
    cyclic: dict[str, Any] = {}
    cyclic["me"] = cyclic
    for _ in range(3):
        assert guard.check("tool", cyclic, result=Hostile()) is None
    detection = guard.check("tool", cyclic, result=Hostile())
    assert detection is not None
    with pytest.raises(TypeError, match="Hostile"):
        guard.check("tool", cyclic, error=Hostile())  # type: ignore[arg-type]  # the misuse


class Huge:
    def __repr__(self) -> str:
        return "h" * 5_000_000


def test_huge_arguments_are_cut_and_the_cut_is_noted() -> None:
    text = canonical_text({"q": "a" * 10_000_000})
    assert len(text) < 200
    assert "<str 10000000 chars, blake2b of the first and last 65536: " in text
    listed = canonical_text(list(range(1_000_000)))
    assert listed.endswith(f',"<+{1_000_000 - MAX_NODES + 1} more>"]')
    assert "Huge repr 5000000 chars, blake2b of the first and last 65536: " in canonical_text(
        Huge()
    )
    mapping = canonical_text({f"k{i}": i for i in range(200_000)})
    assert '"<+' in mapping and " more>" in mapping
    # what is cut is not compared: equal heads and tails, equal lengths, one key
    middle = "m" * 300_000
    assert canonical_key(middle) == canonical_key(middle[:150_000] + "X" + middle[150_001:])


def test_plain_values_below_the_bounds_keep_their_exact_keys() -> None:
    items = list(range(4_000))  # under the fast path's bound: the C encoder, nothing cut
    assert canonical_text(items) == "[" + ",".join(map(str, items)) + "]"
    assert canonical_key(items) != canonical_key([*items[:-1], -1])
    long = "b" * 200_000
    assert canonical_text({"t": long}) == '{"t":"' + long + '"}'
