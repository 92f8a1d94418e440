"""The sketch: relative accuracy, zero and negatives, merging loses nothing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentguard_metrics import Sketch

values = st.floats(-1e6, 1e6, allow_nan=False).filter(lambda v: v == 0 or abs(v) > 1e-9)


@given(st.lists(values, min_size=1, max_size=500), st.floats(0.0, 1.0))
def test_quantiles_are_within_the_relative_accuracy(data: list[float], q: float) -> None:
    sketch = Sketch(0.01)
    for v in data:
        sketch.add(v)
    want = sorted(data)[math.floor(q * (len(data) - 1))]
    got = sketch.quantile(q)
    assert got is not None
    assert abs(got - want) <= 0.01 * abs(want) + 1e-12


@given(st.lists(values, max_size=200), st.lists(values, max_size=200))
def test_merging_equals_adding_everything_to_one(a: list[float], b: list[float]) -> None:
    left, right, whole = Sketch(), Sketch(), Sketch()
    for v in a:
        left.add(v)
        whole.add(v)
    for v in b:
        right.add(v)
        whole.add(v)
    left.merge(right)
    assert left == whole


def test_zero_negatives_and_empty() -> None:
    sketch = Sketch()
    assert sketch.quantile(0.5) is None and sketch.avg is None
    for v in (-2.0, 0.0, 0.0, 3.0):
        sketch.add(v)
    assert sketch.zero_count == 2 and sketch.count == 4 and sketch.sum == 1.0
    assert sketch.quantile(0.0) == -2.0 and sketch.quantile(1.0) == 3.0
    assert sketch.quantile(0.5) == 0.0
    with pytest.raises(ValueError, match="finite"):
        sketch.add(float("inf"))
    with pytest.raises(ValueError, match="different relative accuracy"):
        sketch.merge(Sketch(0.02))
    with pytest.raises(ValueError, match="q must"):
        sketch.quantile(1.5)
