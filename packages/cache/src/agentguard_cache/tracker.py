"""The prompt-cache tracker: a subscriber that accounts for what the prompt cache served.

For every :class:`~agentguard.events.LLMCallFinished` with any input tokens the tracker
publishes one :class:`~agentguard.events.PromptCacheUsage` on the same bus, adds the call to
its totals per model and per agent, and feeds the model's regression window (see
:mod:`agentguard_cache._window` for the baseline it is judged against). A regression is
published as :class:`~agentguard.events.PromptCacheRegressed` once, and again only after the
model's window has recovered to at least the threshold.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable

from agentguard import Bus, FailureEpisodes, Subscription, default_bus
from agentguard.events import LLMCallFinished, PromptCacheRegressed, PromptCacheUsage
from agentguard.limits import LIMITS
from agentguard_cache._window import RegressionWindow
from agentguard_cache.errors import TrackerAttachedError
from agentguard_cache.stats import CacheStats, _snapshot, _Totals

__all__ = ["PromptCacheTracker"]

_logger = logging.getLogger("agentguard.cache")
_TOKENS = LIMITS["input_tokens"]
_USD = LIMITS["cost_usd"]
_NAME = "agentguard_cache.PromptCacheTracker"
_TOKEN_FIELDS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
)


class PromptCacheTracker:
    """Prompt-cache accounting and regression detection; a :class:`agentguard.Subscriber`.

    Args:
        window_s: Length in seconds of the sliding window whose token-weighted hit ratio is
            compared with the baseline (kept to a resolution of ``window_s / 60``).
        regression_fraction: A model has regressed when its window ratio is below this
            fraction of its baseline ratio; in ``(0, 1]``.
        min_calls: Calls the window must hold, and calls the baseline must have seen, before
            a regression can be reported; at least 1. Until the baseline has them (a cold
            start) nothing is reported.
        baseline_half_life_s: Age in seconds at which a call counts half in the baseline,
            the token-weighted hit ratio of the calls that have left the window. ``math.inf``
            weighs every past call alike.
        clock: Monotonic clock in seconds for the window (inject a fake one in tests).

    Raises:
        TypeError: An option has the wrong type.
        ValueError: An option is out of its range.
    """

    def __init__(
        self,
        *,
        window_s: float = 300.0,
        regression_fraction: float = 0.5,
        min_calls: int = 10,
        baseline_half_life_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window_s = _seconds("window_s", window_s, allow_inf=False)
        self._fraction = _fraction(regression_fraction)
        self._min_calls = _min_calls(min_calls)
        self._half_life_s = _seconds("baseline_half_life_s", baseline_half_life_s, allow_inf=True)
        if not callable(clock):
            raise TypeError(
                "clock must be a callable returning seconds (such as time.monotonic), "
                f"got {type(clock).__qualname__}"
            )
        self._clock = clock
        self._lock = threading.Lock()
        self._attach_lock = threading.Lock()
        self._totals: dict[tuple[str, str | None], _Totals] = {}
        self._windows: dict[str, RegressionWindow] = {}
        self._invalid_calls = 0
        self._failures = 0
        self._episodes = FailureEpisodes(_logger)
        self._troubled = False
        self._bus: Bus | None = None
        self._subscription: Subscription | None = None

    def attach(self, bus: Bus | None = None) -> Subscription:
        """Start tracking the LLM calls published on ``bus`` (the default bus if ``None``).

        Attaching again to the bus the tracker listens on returns the same subscription, so a
        call is never counted twice. After :meth:`close` (or closing the subscription) the
        tracker may attach again, to any bus, and keeps its totals.

        Raises:
            TypeError: ``bus`` is not an :class:`agentguard.Bus`.
            TrackerAttachedError: The tracker is attached to another bus; close it first or
                use one tracker per bus.
        """
        target = default_bus if bus is None else bus
        if not isinstance(target, Bus):
            raise TypeError(f"bus must be an agentguard.Bus or None, got {type(bus).__qualname__}")
        with self._attach_lock:
            current = self._subscription
            if current is not None and not current.closed:
                if self._bus is target:
                    return current
                raise TrackerAttachedError(
                    f"this PromptCacheTracker is attached to {self._bus!r}; call close() "
                    f"before attaching it to {target!r}, or use one tracker per bus"
                )
            self._bus = target
            self._subscription = target.subscribe(
                functools.partial(self._on_call, target), LLMCallFinished, name=_NAME
            )
            return self._subscription

    def close(self) -> None:
        """Stop tracking. The totals stay readable. Calling it again does nothing."""
        with self._attach_lock:
            if self._subscription is not None:
                self._subscription.close()

    def stats(self, model: str | None = None, agent: str | None = None) -> CacheStats:
        """Totals over the calls of ``model`` and ``agent`` (``None`` means any).

        Calls made outside a run have no agent; they count only where ``agent`` is ``None``.
        """
        with self._lock:
            parts = [
                totals
                for (call_model, call_agent), totals in self._totals.items()
                if (model is None or call_model == model) and (agent is None or call_agent == agent)
            ]
            return _snapshot(parts)

    def models(self) -> tuple[str, ...]:
        """The models seen so far, sorted."""
        with self._lock:
            return tuple(sorted({model for model, _ in self._totals}))

    def agents(self) -> tuple[str, ...]:
        """The agents seen so far, sorted (calls outside a run have none)."""
        with self._lock:
            return tuple(sorted({agent for _, agent in self._totals if agent is not None}))

    def regressed(self, model: str) -> bool:
        """Whether ``model`` is in a reported regression that has not recovered yet."""
        with self._lock:
            window = self._windows.get(model)
            return window is not None and window.regressed

    @property
    def invalid_calls(self) -> int:
        """Calls skipped because their token counts were not integers in range (0 to 1e9)."""
        with self._lock:
            return self._invalid_calls

    @property
    def failures(self) -> int:
        """Calls the tracker failed to account for because of an unexpected error (a bug)."""
        with self._lock:
            return self._failures

    def _on_call(self, bus: Bus, call: LLMCallFinished) -> None:
        """Handle one call. Publishing happens outside the guard, so a StrictBus still raises."""
        try:
            usage, regression = self._record(call)
        except Exception as exc:  # noqa: BLE001 (a subscriber never raises into the agent)
            with self._lock:
                self._failures += 1
            self._troubled = True
            self._episodes.failed(_NAME, f"could not account for a call: {exc!r}", exc)
            return
        if usage is not None:
            bus.publish(usage)
        if regression is not None:
            bus.publish(regression)

    def _recovered(self) -> None:
        if self._troubled:  # read without the lock: a stale read only delays the log line
            self._troubled = False
            self._episodes.recovered(_NAME)

    def _record(
        self, call: LLMCallFinished
    ) -> tuple[PromptCacheUsage | None, PromptCacheRegressed | None]:
        if not _valid(call):
            with self._lock:
                self._invalid_calls += 1
            self._troubled = True
            self._episodes.failed(
                _NAME,
                "skipped a call whose model is not a string or whose token counts are not "
                f"integers from 0 to 1e9, agentguard.limits (model={call.model!r})",
            )
            return None, None
        read = call.cache_read_tokens
        write = call.cache_write_5m_tokens + call.cache_write_1h_tokens
        uncached = call.input_tokens
        total = read + write + uncached
        if total == 0:
            self._recovered()
            return None, None
        saved_usd = _saved_usd(call)
        now_s = float(self._clock())
        if not math.isfinite(now_s):
            raise ValueError(f"the clock returned {now_s!r}, not a finite number of seconds")
        with self._lock:
            key = (call.model, call.agent)
            totals = self._totals.get(key)
            if totals is None:
                totals = self._totals[key] = _Totals()
            totals.add(read=read, write=write, uncached=uncached, saved_usd=saved_usd)
            window = self._windows.get(call.model)
            if window is None:
                window = self._windows[call.model] = RegressionWindow(
                    window_s=self._window_s,
                    fraction=self._fraction,
                    min_calls=self._min_calls,
                    half_life_s=self._half_life_s,
                )
            verdict = window.add(now_s, read, total)
        self._recovered()
        usage = PromptCacheUsage(
            at_unix_s=call.at_unix_s,
            run_id=call.run_id,
            agent=call.agent,
            session_id=call.session_id,
            model=call.model,
            hit_ratio=read / total,
            read_tokens=read,
            write_tokens=write,
            uncached_tokens=uncached,
            saved_usd=saved_usd,
        )
        regression = None
        if verdict is not None:
            regression = PromptCacheRegressed(
                at_unix_s=call.at_unix_s,
                run_id=call.run_id,
                agent=call.agent,
                session_id=call.session_id,
                model=call.model,
                baseline_ratio=verdict[0],
                current_ratio=verdict[1],
            )
        return usage, regression


def _valid(call: LLMCallFinished) -> bool:
    model: object = call.model
    if not isinstance(model, str):
        return False
    for name in _TOKEN_FIELDS:
        value = getattr(call, name)
        if isinstance(value, bool) or not isinstance(value, int) or not _TOKENS.admits(value):
            return False
    return True


def _saved_usd(call: LLMCallFinished) -> float | None:
    """:attr:`LLMCallFinished.cache_saved_usd` when both costs are known and in range.

    In range: each within what :mod:`agentguard.limits` allows a cost (``1e308`` is not).
    """
    cost, without = call.cost_usd, call.cost_without_cache_usd
    if not isinstance(cost, (int, float)) or not isinstance(without, (int, float)):
        return None
    if not (_USD.admits(cost) and _USD.admits(without)):
        return None
    return call.cache_saved_usd


def _seconds(name: str, value: object, *, allow_inf: bool) -> float:
    allowed = "a positive number of seconds" + (" (math.inf allowed)" if allow_inf else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {allowed}, got {type(value).__qualname__}")
    if not value > 0 or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return float(value)


def _fraction(value: object) -> float:
    allowed = "a number in (0, 1], such as 0.5 for half the baseline"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"regression_fraction must be {allowed}, got {type(value).__qualname__}")
    if not 0 < value <= 1:
        raise ValueError(f"regression_fraction must be {allowed}, got {value!r}")
    return float(value)


def _min_calls(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"min_calls must be an int of at least 1, got {type(value).__qualname__}")
    if value < 1:
        raise ValueError(f"min_calls must be an int of at least 1, got {value!r}")
    return value
