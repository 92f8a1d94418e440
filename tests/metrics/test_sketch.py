"""The sketch: relative accuracy, zero and negatives, merging loses nothing."""

from __future__ import annotations

import math

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentguard_metrics import Sketch

values = st.floats(-1e6, 1e6, allow_nan=False).filter(lambda v: v == 0 or abs(v) > 1e-9)


@given(st.lists(values, min_size=1, max_size=500), st.floats(0.0, 1.0))
def test_quantiles_are_numpy_percentile_within_the_relative_accuracy(
    data: list[float], q: float
) -> None:
    sketch = Sketch(0.01)
    for v in data:
        sketch.add(v)
    want = float(numpy.percentile(data, q * 100))  # numpy's default: linear interpolation
    got = sketch.quantile(q)
    assert got is not None
    # Each of the two values interpolated is within 1 % of itself.
    ordered = sorted(data)
    h = q * (len(data) - 1)
    low, high = ordered[math.floor(h)], ordered[math.ceil(h)]
    f = h - math.floor(h)
    assert abs(got - want) <= 0.01 * ((1 - f) * abs(low) + f * abs(high)) + 1e-9


@given(
    st.lists(st.floats(1e-6, 1e6), min_size=1, max_size=300),
    st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_positive_samples_are_within_the_relative_accuracy_of_numpy(
    data: list[float], q: float
) -> None:
    sketch = Sketch()
    for v in data:
        sketch.add(v)
    want = float(numpy.percentile(data, q * 100))
    got = sketch.quantile(q)
    assert got is not None
    assert abs(got - want) <= sketch.relative_accuracy * want * (1 + 1e-9)


def test_a_small_sample_p95_is_not_biased_low() -> None:
    # Issue 16: n=3, one value far above: nearest-rank put p95 (2.9 ms) below the mean.
    sketch = Sketch()
    for v in (0.0029, 0.0029, 0.0226):
        sketch.add(v)
    p95 = sketch.quantile(0.95)
    assert p95 is not None and sketch.avg is not None
    assert p95 > sketch.avg
    assert p95 == pytest.approx(numpy.percentile([0.0029, 0.0029, 0.0226], 95), rel=0.005)


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
