"""Regression detection for one model: a sliding window of recent calls against a baseline.

The window is :data:`BUCKETS` time buckets of ``window_s / BUCKETS`` seconds each (bounded
memory at any call rate; it covers the last ``window_s`` seconds to within one bucket). A
bucket that leaves the window is folded into the baseline: the token-weighted hit ratio of the
calls that have left the window, each weighted down by half every ``half_life_s`` seconds of
age (``math.inf``: the plain ratio of all calls before the window), kept as two running sums.
Why this baseline: docs/architecture.md, "Prompt cache".
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

BUCKETS = 60
"""How many time buckets a window is split into."""


@dataclass(slots=True)
class _Bucket:
    index: int
    last_s: float
    calls: int = 0
    read_tokens: int = 0
    input_tokens: int = 0


class RegressionWindow:
    """The regression state of one model. Not thread-safe: the tracker's lock guards it.

    Args:
        window_s: Length of the sliding window in seconds.
        fraction: The window regresses when its ratio is below ``fraction`` x the baseline.
        min_calls: Calls the window, and the baseline, must hold before a verdict is given.
        half_life_s: Age in seconds at which a call weighs half in the baseline.
    """

    __slots__ = (
        "_base_at_s",
        "_base_calls",
        "_base_input",
        "_base_read",
        "_buckets",
        "_fraction",
        "_half_life_s",
        "_min_calls",
        "_regressed",
        "_width_s",
        "_win_calls",
        "_win_input",
        "_win_read",
    )

    def __init__(
        self, *, window_s: float, fraction: float, min_calls: int, half_life_s: float
    ) -> None:
        self._width_s = window_s / BUCKETS
        self._fraction = fraction
        self._min_calls = min_calls
        self._half_life_s = half_life_s
        self._buckets: deque[_Bucket] = deque()
        self._win_calls = 0
        self._win_read = 0
        self._win_input = 0
        self._base_calls = 0
        self._base_read = 0.0
        self._base_input = 0.0
        self._base_at_s: float | None = None
        self._regressed = False

    @property
    def regressed(self) -> bool:
        """Whether the last verdict was a regression that has not recovered yet."""
        return self._regressed

    def add(self, now_s: float, read_tokens: int, input_tokens: int) -> tuple[float, float] | None:
        """Record one call with ``input_tokens > 0`` input tokens, ``read_tokens`` of them read.

        Returns:
            ``(baseline_ratio, current_ratio)`` when this call reveals a new regression, once
            per regression; ``None`` otherwise.
        """
        index = math.floor(now_s / self._width_s)
        buckets = self._buckets
        if buckets and index < buckets[-1].index:
            index = buckets[-1].index  # a clock that went back: count it as the latest bucket
        while buckets and buckets[0].index <= index - BUCKETS:
            self._retire(buckets.popleft())
        if not buckets or buckets[-1].index != index:
            buckets.append(_Bucket(index=index, last_s=now_s))
        bucket = buckets[-1]
        bucket.last_s = max(bucket.last_s, now_s)
        bucket.calls += 1
        bucket.read_tokens += read_tokens
        bucket.input_tokens += input_tokens
        self._win_calls += 1
        self._win_read += read_tokens
        self._win_input += input_tokens
        return self._judge()

    def _retire(self, bucket: _Bucket) -> None:
        self._win_calls -= bucket.calls
        self._win_read -= bucket.read_tokens
        self._win_input -= bucket.input_tokens
        if self._base_at_s is not None:
            age_s = max(0.0, bucket.last_s - self._base_at_s)
            factor = 0.5 ** (age_s / self._half_life_s)
            self._base_read *= factor
            self._base_input *= factor
            self._base_at_s = max(self._base_at_s, bucket.last_s)
        else:
            self._base_at_s = bucket.last_s
        self._base_calls += bucket.calls
        self._base_read += bucket.read_tokens
        self._base_input += bucket.input_tokens

    def _judge(self) -> tuple[float, float] | None:
        if (
            self._win_calls < self._min_calls
            or self._base_calls < self._min_calls
            or not self._base_input > 0.0  # decayed to nothing: no baseline left
        ):
            return None
        baseline = min(1.0, self._base_read / self._base_input)
        current = self._win_read / self._win_input
        if current < self._fraction * baseline:
            if not self._regressed:
                self._regressed = True
                return baseline, current
        else:
            self._regressed = False
        return None
