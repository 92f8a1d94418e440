"""Breaker state shared by processes in Redis, changed only by Lua scripts (atomically).

One hash per breaker, ``agentguard:breaker:<name>``, holds ``state``, ``failures``,
``opened_at`` (wall-clock Unix seconds, since processes share no monotonic clock) and, while
a half-open probe is out, ``probe_until``: the probe's lease, so that a process that dies in
the middle of its probe blocks the others for one lease at most. Each script seeds a missing
hash from the caller's local state, so a Redis that restarts empty learns the state back
from the first process that talks to it.

Any Redis failure (``RedisError``, ``OSError``) comes out as :class:`SharedStateUnavailable`;
the breaker then runs on its local state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, NamedTuple, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from agentguard.events import BreakerState
from agentguard.redisconnect import connect as connect_url
from agentguard_breaker._local import NORMAL, PROBE, REJECT, Transition

if TYPE_CHECKING:
    from redis.cluster import RedisCluster

__all__ = ["SharedOutcome", "SharedState", "SharedStateUnavailable", "connect"]

SOCKET_TIMEOUT_S: Final = 0.25
"""Connect and read timeout of clients built from a URL: a slow Redis must not stall calls."""

_SEED = """
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then
  redis.call('HSET', key, 'state', ARGV[1], 'failures', ARGV[2], 'opened_at', ARGV[3])
end
local state = redis.call('HGET', key, 'state')
local failures = tonumber(redis.call('HGET', key, 'failures') or '0')
local opened_at = redis.call('HGET', key, 'opened_at') or '0'
local now = tonumber(ARGV[4])
"""

_ADMIT = (
    _SEED
    + """
-- ARGV[5] reset timeout, ARGV[6] probe lease
if state == 'open' then
  local wait = tonumber(opened_at) + tonumber(ARGV[5]) - now
  if wait > 0 then
    return {'reject', tostring(wait), state, failures, opened_at, ''}
  end
  redis.call('HSET', key, 'state', 'half_open', 'probe_until', tostring(now + tonumber(ARGV[6])))
  return {'probe', '0', 'half_open', failures, opened_at, 'open'}
elseif state == 'half_open' then
  if tonumber(redis.call('HGET', key, 'probe_until') or '0') > now then
    return {'reject', '0', state, failures, opened_at, ''}
  end
  redis.call('HSET', key, 'probe_until', tostring(now + tonumber(ARGV[6])))
  return {'probe', '0', state, failures, opened_at, ''}
end
return {'normal', '0', state, failures, opened_at, ''}
"""
)

_RECORD = (
    _SEED
    + """
-- ARGV[5] outcome (ok, fail, release), ARGV[6] '1' for the probe, ARGV[7] fail_max
local outcome = ARGV[5]
if ARGV[6] == '1' then
  if state == 'half_open' then
    if outcome == 'ok' then
      redis.call('HSET', key, 'state', 'closed', 'failures', 0)
      redis.call('HDEL', key, 'probe_until')
      return {'closed', 0, opened_at, 'half_open'}
    elseif outcome == 'fail' then
      failures = failures + 1
      redis.call('HSET', key, 'state', 'open', 'failures', failures, 'opened_at', ARGV[4])
      redis.call('HDEL', key, 'probe_until')
      return {'open', failures, ARGV[4], 'half_open'}
    end
    redis.call('HDEL', key, 'probe_until')
  end
  return {state, failures, opened_at, ''}
end
if state ~= 'closed' then
  return {state, failures, opened_at, ''}
end
if outcome == 'ok' then
  if failures > 0 then
    redis.call('HSET', key, 'failures', 0)
  end
  return {state, 0, opened_at, ''}
elseif outcome == 'fail' then
  failures = redis.call('HINCRBY', key, 'failures', 1)
  if failures >= tonumber(ARGV[7]) then
    redis.call('HSET', key, 'state', 'open', 'opened_at', ARGV[4])
    return {'open', failures, ARGV[4], 'closed'}
  end
end
return {state, failures, opened_at, ''}
"""
)

_OUTCOMES: Final = {"normal": NORMAL, "probe": PROBE, "reject": REJECT}
_STATES: Final[dict[str, BreakerState]] = {
    "closed": "closed",
    "open": "open",
    "half_open": "half_open",
}


class SharedStateUnavailable(Exception):  # noqa: N818 (a condition, caught internally)
    """Redis did not answer; the breaker uses its local state for this decision."""


class SharedOutcome(NamedTuple):
    """What a script decided, and the shared state after it."""

    outcome: int
    retry_after_s: float
    transition: Transition | None
    state: BreakerState
    failures: int
    opened_at_unix_s: float


def connect(client_or_url: str | redis.Redis | RedisCluster) -> redis.Redis | RedisCluster:
    """The client to use: a URL becomes a client with short timeouts and no retries.

    Any URL form of ``agentguard_redis.connect`` (the project's one factory, which lives in
    the core so that the breaker needs only redis-py): a Cluster node, ``rediss://``,
    ``redis+sentinel://``, ACL users.
    """
    if isinstance(client_or_url, str):
        return connect_url(
            client_or_url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
    return client_or_url


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SharedState:
    """One breaker's state in Redis."""

    __slots__ = ("_admit", "_fail_max", "_key", "_lease_s", "_record", "_reset_timeout_s")

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        name: str,
        *,
        fail_max: int,
        reset_timeout_s: float,
    ) -> None:
        self._key = f"agentguard:breaker:{name}"
        self._fail_max = fail_max
        self._reset_timeout_s = reset_timeout_s
        self._lease_s = max(60.0, reset_timeout_s)
        # register_script does no I/O; each call runs EVALSHA and loads the script when a
        # (restarted) server does not know it.
        self._admit = client.register_script(_ADMIT)
        self._record = client.register_script(_RECORD)

    def admit(self, now_unix_s: float, seed: tuple[BreakerState, int, float]) -> SharedOutcome:
        """Decide whether a call may go through, for every process at once."""
        args = [*_seed_args(seed), repr(now_unix_s), repr(self._reset_timeout_s)]
        reply = self._run(self._admit, [*args, repr(self._lease_s)])
        outcome, wait, state, failures, opened_at, old = (_text(v) for v in reply)
        new_state = _STATES[state]
        transition = Transition(_STATES[old], new_state, int(failures)) if old else None
        return SharedOutcome(
            _OUTCOMES[outcome], float(wait), transition, new_state, int(failures), float(opened_at)
        )

    def record(
        self, outcome: str, probe: bool, now_unix_s: float, seed: tuple[BreakerState, int, float]
    ) -> SharedOutcome:
        """Record how a call ended (``ok``, ``fail`` or ``release``)."""
        args = [*_seed_args(seed), repr(now_unix_s), outcome, "1" if probe else "0"]
        reply = self._run(self._record, [*args, str(self._fail_max)])
        state, failures, opened_at, old = (_text(v) for v in reply)
        new_state = _STATES[state]
        transition = Transition(_STATES[old], new_state, int(failures)) if old else None
        return SharedOutcome(NORMAL, 0.0, transition, new_state, int(failures), float(opened_at))

    def _run(self, script: Any, args: list[str]) -> list[Any]:
        try:
            return cast("list[Any]", script(keys=[self._key], args=args))
        except (redis.RedisError, OSError) as exc:
            raise SharedStateUnavailable(str(exc)) from exc


def _seed_args(seed: tuple[BreakerState, int, float]) -> list[str]:
    state, failures, opened_at_unix_s = seed
    return [state, str(failures), repr(opened_at_unix_s)]
