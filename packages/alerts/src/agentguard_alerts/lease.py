"""Which replica evaluates alert rules: :class:`RedisLease` (one at a time) or :class:`SoleLease`.

Replicas of ``agentguard serve`` over one Redis share a lease: set if absent with an expiry,
renewed by its holder at every evaluation, with a fencing token from ``INCR`` that grows with
every new holder. Notifications carry the token, and a sender checks :meth:`Lease.valid`
before each attempt, so a holder paused past its lease (SIGSTOP, a long GC) sends nothing
when it wakes. Why and how: docs/architecture.md, "serve in N copies".

The trap: :meth:`Lease.valid` must not do I/O (it runs before every HTTP attempt): it trusts
the term measured locally from *before* the last successful renewal was sent.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from agentguard import FailureEpisodes

if TYPE_CHECKING:
    import redis
    from redis.cluster import RedisCluster

__all__ = ["Lease", "LeaseState", "RedisLease", "SoleLease", "replica_id"]

_logger = logging.getLogger("agentguard_alerts")

# KEYS: the lease, the fencing counter, the last evaluation published (one hash tag).
# ARGV: replica, ttl in ms. The value is "<token> <replica>"; the holder renews, anyone takes
# it once it expired. The reply ends with the last evaluation published ('' for none).
_ACQUIRE: Final = """
local current = redis.call('GET', KEYS[1])
local done = redis.call('GET', KEYS[3]) or ''
if current then
  local at = string.find(current, ' ', 1, true)
  local holder = string.sub(current, at + 1)
  local token = tonumber(string.sub(current, 1, at - 1))
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, token, holder, done}
  end
  return {0, token, holder, done}
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ' ' .. ARGV[1], 'PX', ARGV[2])
return {1, token, ARGV[1], done}
"""

# KEYS: the lease, the last evaluation published. ARGV: "<token> <replica>", its time.
_COMPLETED: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0
"""

# KEYS: the lease. ARGV: "<token> <replica>". Deletes it only while it is still ours.
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def replica_id() -> str:
    """A name for this process among replicas: ``host:pid:random`` (never reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseState:
    """What a replica last learned about the lease (what ``/healthz`` shows)."""

    replica: str
    """This replica's name."""
    holds: bool
    """Whether this replica holds the lease (its term not over)."""
    holder: str | None
    """The holder's name as last seen (``None``: free, or never asked)."""
    fencing_token: int | None
    """The holder's fencing token as last seen."""
    key: str
    """The Redis key of the lease (``""`` for :class:`SoleLease`)."""
    completed_unix_s: float | None = None
    """The last evaluation a holder published, as last seen (``None``: none, or not known)."""

    def as_dict(self) -> dict[str, object]:
        """The JSON form: ``holds_lease``, ``replica``, ``holder``, ``fencing_token``, ``key``."""
        return {
            "holds_lease": self.holds,
            "replica": self.replica,
            "holder": self.holder,
            "fencing_token": self.fencing_token,
            "key": self.key,
        }


class Lease(Protocol):
    """Who evaluates: the :class:`~agentguard_alerts.Evaluator` asks before every evaluation."""

    @property
    def ttl_s(self) -> float:
        """How long a term lasts without renewal (``inf``: forever)."""
        ...

    def acquire(self) -> int | None:
        """Take the lease or renew it; the fencing token while held, else ``None``. Never raises."""
        ...

    def valid(self, token: int) -> bool:
        """Whether ``token`` is this replica's and its term is not over (no I/O)."""
        ...

    def completed(self, token: int, at_unix_s: float) -> None:
        """Record that the holder of ``token`` published the evaluation at ``at_unix_s``."""
        ...

    def release(self) -> None:
        """Give the lease up now, if held (a standby takes over at its next evaluation)."""
        ...

    def state(self) -> LeaseState:
        """What this replica last learned (no I/O)."""
        ...


class SoleLease:
    """The lease of a lone evaluator (no Redis: the memory store): always held, token 1."""

    def __init__(self, replica: str | None = None) -> None:
        self._replica = replica or replica_id()

    @property
    def ttl_s(self) -> float:
        """Forever."""
        return float("inf")

    def acquire(self) -> int:
        """Always ``1``."""
        return 1

    def valid(self, token: int) -> bool:
        """Whether ``token`` is ``1``."""
        return token == 1

    def completed(self, token: int, at_unix_s: float) -> None:
        """Nothing to record."""

    def release(self) -> None:
        """Nothing to give up."""

    def state(self) -> LeaseState:
        """Held by this replica."""
        return LeaseState(
            replica=self._replica, holds=True, holder=self._replica, fencing_token=1, key=""
        )


class RedisLease:
    """A lease in Redis shared by the replicas evaluating the same rules.

    Args:
        client: A redis-py client (a ``ClusterAwareRedis`` from ``agentguard.redisconnect``,
            a ``RedisCluster`` too: the keys share one hash tag of their own).
        ttl_s: A term: a holder that does not renew within it loses the lease. The evaluator
            renews every ``interval_s``; ``1.5 * interval_s`` lets a standby take over
            within two intervals of the holder's death.
        name: Replicas with the same name share the lease (``agentguard serve`` uses its
            ``--prefix``). Keys: ``{NAME:alerts-lease}``, and ``:fence`` and ``:done`` after it.
        replica: This replica's name (:func:`replica_id` by default; no whitespace).
        monotonic: Seconds on a monotonic scale, for the term.

    Raises:
        ValueError: ``ttl_s`` not positive, or a replica name with whitespace or empty.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        ttl_s: float,
        name: str = "agentguard",
        replica: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        import redis as redis_module  # a runtime dependency of this class only (the `redis` extra)

        if not 0 < ttl_s < float("inf"):
            raise ValueError(f"ttl_s must be > 0 and finite, got {ttl_s!r}")
        replica = replica_id() if replica is None else replica
        if not replica or len(replica.split()) != 1 or replica != replica.strip():
            raise ValueError(f"replica must be a name without whitespace, got {replica!r}")
        tag = "{" + name + ":alerts-lease}"
        self._key = tag
        self._keys = [tag, f"{tag}:fence", f"{tag}:done"]
        self._ttl_s = ttl_s
        self._replica = replica
        self._monotonic = monotonic
        self._acquire: Any = client.register_script(_ACQUIRE)
        self._release: Any = client.register_script(_RELEASE)
        self._completed: Any = client.register_script(_COMPLETED)
        self._errors = (redis_module.RedisError, OSError)
        self._episodes = FailureEpisodes(_logger)
        self._lock = threading.Lock()
        self._token: int | None = None
        self._until = float("-inf")
        self._holder: str | None = None
        self._holder_token: int | None = None
        self._done: float | None = None

    @property
    def ttl_s(self) -> float:
        """A term's length."""
        return self._ttl_s

    @property
    def key(self) -> str:
        """The Redis key of the lease."""
        return self._key

    def acquire(self) -> int | None:
        """Take or renew the lease; the fencing token while held, else ``None``.

        A failing Redis is logged once per episode; the current term, if any, still counts
        until it is over (nobody else can take the lease before then either).
        """
        started = self._monotonic()
        try:
            held, token, holder, done = self._acquire(
                keys=self._keys, args=[self._replica, max(1, round(self._ttl_s * 1000))]
            )
        except self._errors as exc:
            self._episodes.failed(
                "agentguard_alerts: lease", f"cannot reach Redis: {type(exc).__name__}", exc
            )
            with self._lock:
                if started >= self._until:
                    self._token = None
                return self._token
        if self._episodes.failing("agentguard_alerts: lease"):
            self._episodes.recovered("agentguard_alerts: lease")
        with self._lock:
            self._holder = holder.decode() if isinstance(holder, bytes) else str(holder)
            self._holder_token = int(token)
            self._done = float(done) if done else None
            if held:
                if self._token != int(token):
                    _logger.info("agentguard_alerts: this replica holds the alert lease now")
                self._token, self._until = int(token), started + self._ttl_s
            else:
                if self._token is not None:
                    _logger.warning(
                        "agentguard_alerts: this replica lost the alert lease to %s", self._holder
                    )
                self._token, self._until = None, float("-inf")
            return self._token

    def valid(self, token: int) -> bool:
        """Whether ``token`` is this replica's and its term, measured locally, is not over."""
        with self._lock:
            return token == self._token and self._monotonic() < self._until

    def completed(self, token: int, at_unix_s: float) -> None:
        """Record the evaluation at ``at_unix_s`` as published, if ``token`` still holds it.

        A standby taking over publishes the state changes it withheld after that one only
        (never raises: a failure means some may be published twice).
        """
        try:
            self._completed(
                keys=[self._keys[0], self._keys[2]],
                args=[f"{token} {self._replica}", repr(at_unix_s)],
            )
        except self._errors as exc:
            self._episodes.failed("agentguard_alerts: lease", "recording failed", exc)

    def release(self) -> None:
        """Delete the lease if it is still this replica's (never raises)."""
        with self._lock:
            token, self._token, self._until = self._token, None, float("-inf")
        if token is None:
            return
        try:
            self._release(keys=self._keys[:1], args=[f"{token} {self._replica}"])
        except self._errors as exc:
            self._episodes.failed("agentguard_alerts: lease", "release failed", exc)
            return
        with self._lock:
            self._holder = self._holder_token = None

    def state(self) -> LeaseState:
        """What this replica last learned (no I/O)."""
        with self._lock:
            holds = self._token is not None and self._monotonic() < self._until
            return LeaseState(
                replica=self._replica,
                holds=holds,
                holder=self._holder,
                fencing_token=self._holder_token,
                key=self._key,
                completed_unix_s=self._done,
            )

    def __repr__(self) -> str:
        return f"<RedisLease {self._key} replica={self._replica} token={self._token}>"
