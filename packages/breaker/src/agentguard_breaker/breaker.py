"""A circuit breaker for LLM provider calls, on pybreaker: :class:`CircuitBreaker`.

From pybreaker: the state model (its state names are what the local store holds),
``pybreaker.CircuitMemoryStorage`` as the local store of state and failure count, and
``pybreaker.CircuitBreakerError`` as a base of :class:`~agentguard_breaker.errors.CircuitOpenError`.
Written here: a call path that never holds the lock around the call, one half-open probe at a
time, only provider faults (``is_failure``) counted, events on the bus instead of listeners,
shared state decided atomically by Lua scripts (``_shared``) with a local fallback, and time
from the injected monotonic ``clock`` (``wall_clock`` only for shared state). Why each part
differs from pybreaker: docs/architecture.md, "The breaker".
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from agentguard import Bus, FailureEpisodes, default_bus
from agentguard.events import BreakerRejected, BreakerState, BreakerStateChanged
from agentguard.scope import Scope
from agentguard_breaker._config import check_config, shared_state
from agentguard_breaker._faults import default_is_failure
from agentguard_breaker._local import PROBE, REJECT, Admission, LocalState, Transition
from agentguard_breaker.errors import CircuitOpenError

if TYPE_CHECKING:
    import redis as redis_py

    from agentguard_breaker._shared import SharedOutcome, SharedState

__all__ = ["CircuitBreaker"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_logger = logging.getLogger("agentguard.breaker")


class CircuitBreaker(Scope[bool]):
    """Fails calls fast while a provider keeps failing; lets one probe through to check.

    Use an instance as a decorator (``@breaker``) on functions and coroutine functions, or
    around a block (``with breaker:`` / ``async with breaker:``); one instance guards any
    number of threads and tasks at once. :func:`~agentguard_breaker.circuit.circuit` gives
    the ``@circuit``, ``@circuit(name=...)`` and ``with circuit(name=...)`` forms over
    breakers shared by name.

    Closed, it lets calls through and counts consecutive provider faults; the ``fail_max``-th
    opens it. Open, it raises :class:`~agentguard_breaker.errors.CircuitOpenError` without
    calling, until ``reset_timeout_s`` has passed; then one caller becomes the half-open probe
    while the others keep failing fast. The probe's success closes the breaker, its provider
    fault opens it again; any other exception lets the next caller probe. A call that
    returns resets the count; an exception that is not a provider fault changes nothing.

    Args:
        name: Names the breaker in events, errors, logs and the Redis key.
        fail_max: Consecutive provider faults that open the breaker.
        reset_timeout_s: Seconds the breaker stays open before it allows a probe.
        bus: Where events go; ``None`` means ``agentguard.default_bus``.
        clock: Monotonic clock for local timing (inject ``FakeClock.monotonic`` in tests).
        wall_clock: Unix-time clock for the opened-at time shared in Redis.
        is_failure: Which exceptions are provider faults. By default
            ``agentguard_classify.is_provider_fault`` when that package is installed, else the
            same kinds from :mod:`agentguard.errorkinds`: timeouts, connection errors, rate
            limits, overload and 5xx, never request errors or spend limits.
        redis: A redis-py client or a Redis URL (any form of ``agentguard_redis.connect``:
            a Cluster node, ``rediss://``, ``redis+sentinel://``) to share the state with other
            processes; ``None`` keeps it in this process. A URL gets a client with 0.25 s
            socket timeouts and no retries; give a client of your own short timeouts too,
            since calls wait on it (coroutines included: the round trip runs inline).
        redis_retry_s: After Redis fails, seconds of local-only operation before asking it
            again.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: ``name`` is empty, ``fail_max`` < 1, ``reset_timeout_s`` <= 0 or not
            finite, ``redis_retry_s`` < 0.
    """

    __slots__ = (
        "_bus",
        "_clock",
        "_episodes",
        "_fallbacks",
        "_is_failure",
        "_local",
        "_name",
        "_publish_errors",
        "_redis_down",
        "_redis_retry_at_s",
        "_redis_retry_s",
        "_shared",
        "_wall_clock",
        "options",
    )

    def __init__(
        self,
        name: str,
        *,
        fail_max: int = 5,
        reset_timeout_s: float = 30.0,
        bus: Bus | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        is_failure: Callable[[BaseException], bool] | None = None,
        redis: str | redis_py.Redis | None = None,
        redis_retry_s: float = 1.0,
    ) -> None:
        check_config(name, fail_max, reset_timeout_s, redis_retry_s)
        for param, value in (("clock", clock), ("wall_clock", wall_clock)):
            if not callable(value):
                raise TypeError(f"{param} must be a callable returning seconds, got {value!r}")
        if is_failure is not None and not callable(is_failure):
            raise TypeError(f"is_failure must be a callable(exception) -> bool, got {is_failure!r}")
        if bus is not None and not callable(getattr(bus, "publish", None)):
            raise TypeError(f"bus must be an agentguard.Bus, got {bus!r}")
        self.options: dict[str, object] = {
            "fail_max": fail_max,
            "reset_timeout_s": reset_timeout_s,
            "bus": bus,
            "clock": clock,
            "wall_clock": wall_clock,
            "is_failure": is_failure,
            "redis": redis,
            "redis_retry_s": redis_retry_s,
        }
        self._name = name
        self._bus = default_bus if bus is None else bus
        self._clock = clock
        self._wall_clock = wall_clock
        self._is_failure = default_is_failure() if is_failure is None else is_failure
        self._local = LocalState(fail_max, float(reset_timeout_s))
        self._episodes = FailureEpisodes(_logger, clock=clock)
        self._fallbacks = 0
        self._publish_errors = 0
        self._redis_down = False
        self._redis_retry_s = float(redis_retry_s)
        self._redis_retry_at_s = -math.inf
        self._shared: SharedState | None = None
        if redis is not None:
            self._shared = shared_state(redis, name, fail_max, float(reset_timeout_s))

    @property
    def name(self) -> str:
        """The breaker's name."""
        return self._name

    @property
    def state(self) -> BreakerState:
        """The state this process last saw: ``closed``, ``open`` or ``half_open``.

        It changes only when a call is made: an open breaker whose timeout has passed still
        reads ``open`` until the next call becomes the probe.
        """
        return self._local.state

    @property
    def failure_count(self) -> int:
        """Consecutive provider faults counted (as this process last saw them)."""
        return self._local.failures

    @property
    def fail_max(self) -> int:
        """Consecutive provider faults that open the breaker."""
        return self._local.fail_max

    @property
    def reset_timeout_s(self) -> float:
        """Seconds the breaker stays open before it allows a probe."""
        return self._local.reset_timeout_s

    @property
    def redis_fallbacks(self) -> int:
        """Decisions made on local state because Redis was down (0 without Redis)."""
        return self._fallbacks

    @property
    def publish_errors(self) -> int:
        """Events the bus failed to take (they are logged once per episode, then dropped)."""
        return self._publish_errors

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self._name!r} {self.state}, {self.failure_count} failure(s)>"

    def _begin(self, name: str | None) -> bool:
        """Admit a call or a block (see :class:`agentguard.scope.Scope`): True for the probe."""
        return self._admit()

    def _end(self, state: bool, error: BaseException | None) -> None:
        self._settle(state, error)

    def _admit(self) -> bool:
        """Let a call through (``True`` when it is the probe) or raise ``CircuitOpenError``."""
        local = self._local
        if self._shared is None:
            if local.storage.state == "closed":
                return False
            admission = local.admit(self._clock())
        else:
            admission = self._shared_admit()
        if admission.transition is not None:
            self._changed(admission.transition)
        if admission.outcome == REJECT:
            self._publish(BreakerRejected(breaker=self._name))
            raise CircuitOpenError(self._name, admission.retry_after_s)
        return admission.outcome == PROBE

    def _settle(self, probe: bool, exc: BaseException | None) -> None:
        """Record how an admitted call ended."""
        if exc is None:
            if not probe and self._shared is None and not self._local.storage.counter:
                return
            outcome = "ok"
        elif isinstance(exc, Exception) and self._counts(exc):
            outcome = "fail"
        else:
            outcome = "release"
        if self._shared is not None and self._shared_ready():
            transition = self._shared_record(outcome, probe)
        elif outcome == "ok":
            transition = self._local.succeeded(probe)
        elif outcome == "fail":
            transition = self._local.failed(probe, self._clock())
        else:
            self._local.released(probe)
            return
        if transition is not None:
            self._changed(transition)

    def _counts(self, exc: Exception) -> bool:
        try:
            return bool(self._is_failure(exc))
        except Exception as error:  # noqa: BLE001 (a user predicate must not break the call)
            self._episodes.failed(
                f"breaker {self._name}: is_failure", f"raised {error!r}; not counted", error
            )
            return False

    def _changed(self, transition: Transition) -> None:
        self._publish(
            BreakerStateChanged(
                breaker=self._name,
                old_state=transition.old,
                new_state=transition.new,
                failure_count=transition.failure_count,
            )
        )

    def _publish(self, event: BreakerStateChanged | BreakerRejected) -> None:
        try:
            self._bus.publish(event)
        except Exception as exc:  # noqa: BLE001 (a failing bus never reaches the caller)
            self._publish_errors += 1
            self._episodes.failed(f"breaker {self._name}: bus", f"publish failed: {exc!r}", exc)

    # Shared state: every decision goes to Redis while it answers, and is mirrored locally.

    def _shared_ready(self) -> bool:
        if self._redis_down and self._clock() < self._redis_retry_at_s:
            self._fallbacks += 1
            return False
        return True

    def _seed(self) -> tuple[BreakerState, int, float]:
        local = self._local
        opened_at_unix_s = self._wall_clock() - (self._clock() - local.opened_at_s)
        return local.state, local.failures, opened_at_unix_s

    def _shared_admit(self) -> Admission:
        from agentguard_breaker._shared import SharedStateUnavailable

        assert self._shared is not None
        if self._shared_ready():
            try:
                shared = self._shared.admit(self._wall_clock(), self._seed())
            except SharedStateUnavailable as exc:
                self._redis_failed(exc)
            else:
                self._redis_answered(shared, shared.outcome == PROBE)
                return Admission(shared.outcome, shared.retry_after_s, shared.transition)
        return self._local.admit(self._clock())

    def _shared_record(self, outcome: str, probe: bool) -> Transition | None:
        from agentguard_breaker._shared import SharedStateUnavailable

        assert self._shared is not None
        try:
            shared = self._shared.record(outcome, probe, self._wall_clock(), self._seed())
        except SharedStateUnavailable as exc:
            self._redis_failed(exc)
        else:
            self._redis_answered(shared, probe=False)
            return shared.transition
        if outcome == "ok":
            return self._local.succeeded(probe)
        if outcome == "fail":
            return self._local.failed(probe, self._clock())
        self._local.released(probe)
        return None

    def _redis_answered(self, shared: SharedOutcome, probe: bool) -> None:
        now_s = self._clock()
        opened_at_s = now_s - (self._wall_clock() - shared.opened_at_unix_s)
        self._local.mirror(shared.state, shared.failures, opened_at_s, probe)
        if self._redis_down:
            self._redis_down = False
            self._episodes.recovered(f"breaker {self._name}: redis")

    def _redis_failed(self, exc: Exception) -> None:
        self._fallbacks += 1
        self._redis_down = True
        self._redis_retry_at_s = self._clock() + self._redis_retry_s
        self._episodes.failed(
            f"breaker {self._name}: redis",
            f"shared state unavailable ({exc}); using this process's state",
            exc,
        )
