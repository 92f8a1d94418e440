"""The shards of a deployment: how many, where a chunk goes and when it counts as applied.

A deployment's number of shards is registered in ``{prefix}:layout`` by its first writer and
read from there by readers; a writer told another number is refused in one line. A chunk is
applied by one ``APPLY`` call on its shard's master, pipelined with ``WAIT`` when that master
has replicas, and counts as applied only once a replica has it (why: docs/architecture.md,
"Redis sharding").
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    RedisClusterException,
    TryAgainError,
)

from agentguard_redis._keys import Keys, shard_tags
from agentguard_redis._scripts import APPLY, LAYOUT
from agentguard_redis.errors import RedisSetupError, RedisUnavailableError

__all__ = ["DEFAULT_CLUSTER_SHARDS", "STORE_URL_OPTIONS", "Router", "split_url"]

DEFAULT_CLUSTER_SHARDS: Final = 16
"""Shards of a new deployment on a Redis Cluster: 5 or 6 per master of 3, 2 per master of 8."""
STORE_URL_OPTIONS: Final = ("shards", "wait_replicas", "wait_ms")
"""Query options of a URL that are the store's, not redis-py's."""

Call = tuple[Script, Sequence[str], Sequence[Any]]
"""A script, its keys (all in one slot) and its arguments."""
_REDIRECTED: Final = (MovedError, AskError, ClusterDownError, TryAgainError)


def split_url(url: str) -> tuple[str, dict[str, int]]:
    """``url`` without the store's options (:data:`STORE_URL_OPTIONS`), and those options.

    Raises:
        ValueError: an option that is not a whole number.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options: dict[str, int] = {}
    rest = []
    for name, value in query:
        if name not in STORE_URL_OPTIONS:
            rest.append((name, value))
            continue
        try:
            options[name] = int(value)
        except ValueError:
            raise ValueError(f"?{name}={value!r} in a Redis URL: give a whole number") from None
    return urlunsplit(parts._replace(query=urlencode(rest))), options


class Router:
    """Routes the store's calls to its shards.

    Args:
        client: The store's client.
        prefix: The deployment's prefix.
        shards: The shards this writer was told to use (``None``: what Redis says, else
            :data:`DEFAULT_CLUSTER_SHARDS` on a Cluster and 1 on one server).
        wait_replicas: Replicas that must have a chunk before it counts (0: never wait).
        wait_ms: How long ``WAIT`` waits for them.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        prefix: str,
        shards: int | None,
        wait_replicas: int,
        wait_ms: int,
    ) -> None:
        if shards is not None:
            shard_tags(prefix, shards)  # fails now on a bad number
        if wait_replicas < 0:
            raise ValueError(f"wait_replicas must be >= 0, got {wait_replicas!r}")
        if wait_ms < 1:
            raise ValueError(f"wait_ms must be >= 1, got {wait_ms!r}")
        self.client = client
        self.base = Keys(prefix)
        self._wanted = shards
        self._wait_replicas = wait_replicas
        self._wait_ms = wait_ms
        self._read: tuple[Keys, ...] | None = None
        self._written: tuple[Keys, ...] | None = None
        self._replicas: dict[int, int] = {}
        self._lock = threading.Lock()
        self._layout = client.register_script(LAYOUT)
        self.apply_script = client.register_script(APPLY)

    def cluster(self) -> RedisCluster | None:
        """The Cluster client, once the store's client is known to be one."""
        if isinstance(self.client, RedisCluster):
            return self.client
        found: RedisCluster | None = getattr(self.client, "cluster_client", None)
        return found

    def _keys(self, shards: int) -> tuple[Keys, ...]:
        prefix = self.base.prefix
        return tuple(Keys(prefix, tag) for tag in shard_tags(prefix, shards))

    # --- the layout -----------------------------------------------------------------------

    def readable(self) -> tuple[Keys, ...]:
        """The shards a reader reads: Redis's layout (shard 0 alone while none is registered)."""
        if self._read is None:
            held = self.client.hget(self.base.layout, "shards")
            if held is None:
                return (self.base,)
            self._read = self._keys(int(held))
        return self._read

    def writable(self) -> tuple[Keys, ...]:
        """The shards this writer writes: registered by it, or by an earlier writer.

        Raises:
            RedisSetupError: Redis holds another number of shards than this writer was told.
        """
        with self._lock:
            if self._written is not None:
                return self._written
            shards, replicas = self._layout(keys=[self.base.layout], args=[self._wanted or 0])
            if not shards:  # the first writer: the client knows by now whether it is a Cluster
                default = DEFAULT_CLUSTER_SHARDS if self.cluster() is not None else 1
                shards, replicas = self._layout(keys=[self.base.layout], args=[default])
            self._refuse(int(shards))
            keys = self._keys(int(shards))
            for shard, shard_keys in enumerate(keys):
                self._replicas[shard] = self._replicas_of(shard_keys, int(replicas))
            self._read = self._written = keys
            return keys

    def layout_call(self) -> Call:
        """Registering this writer's shards again (a Redis that lost its data lost them too)."""
        return (self._layout, [self.base.layout], [len(self.writable())])

    def check(self) -> None:
        """Raise :class:`RedisSetupError` when Redis holds another number of shards than told."""
        held = self.client.hget(self.base.layout, "shards")
        if held is not None:
            self._refuse(int(held))

    def _refuse(self, shards: int) -> None:
        if self._wanted is not None and shards != self._wanted:
            raise RedisSetupError(
                f"the deployment {self.base.prefix!r} in Redis has {shards} shards and this "
                f"writer was told {self._wanted}: give every writer the same shards= (or "
                "leave it out to use Redis's), or use another prefix",
                reason="shards",
            )

    def _replicas_of(self, keys: Keys, on_one_server: int) -> int:
        cluster = self.cluster()
        if cluster is None:
            return on_one_server
        nodes = cluster.nodes_manager.slots_cache.get(key_slot(keys.seq.encode()), [])
        return max(0, len(nodes) - 1)

    # --- writes ---------------------------------------------------------------------------

    def apply(self, shard: int, keys: list[str], args: list[Any]) -> bool:
        """One ``APPLY`` call on ``shard``'s master (``args`` without the replicas flag).

        Returns whether it applied the chunk (``False``: applied before). Pipelined with
        ``WAIT`` when the master had replicas at its last answer.

        Raises:
            RedisUnavailableError: applied, but no replica acknowledged it in time (or the
                master gained replicas meanwhile): it is sent again (and skipped) later.
            redis.ResponseError: the script refused the chunk.
            redis.RedisError: Redis did not answer, or the shard's slot moved.
        """
        waits = self._wait_replicas > 0 and self._replicas.get(shard, 0) > 0
        full = [*args[:5], "1" if self._wait_replicas else "0", *args[5:]]
        for _ in range(2):
            results = self._send(keys, full, waits)
            reply = results[0]
            if not isinstance(reply, NoScriptError):
                break
            self.apply_script.sha = self.client.script_load(APPLY)
        if isinstance(reply, _REDIRECTED):
            self._refresh()
            raise redis.ConnectionError(f"Redis Cluster: {reply}; sent again at the next flush")
        if isinstance(reply, Exception):
            raise reply
        applied, replicas = int(reply[0]), int(reply[1])
        if replicas >= 0:
            self._replicas[shard] = replicas
        if self._wait_replicas and replicas > 0:
            needed = min(self._wait_replicas, replicas)
            acked = results[1] if waits else 0
            if isinstance(acked, Exception):
                raise acked
            if int(acked) < needed:
                raise RedisUnavailableError(
                    f"a chunk reached {int(acked)} of {needed} replicas within "
                    f"{self._wait_ms} ms (WAIT); it is sent again at the next flush",
                    reason="replicas",
                )
        return bool(applied)

    def _send(self, keys: list[str], args: list[Any], waits: bool) -> list[Any]:
        cluster = self.cluster()
        try:
            if cluster is None:
                pipe = self.client.pipeline(transaction=False)
            else:  # the master's own connection, so that WAIT follows the script on it
                node = cluster.get_node_from_key(keys[0])  # type: ignore[no-untyped-call]  # untyped in redis-py
                pipe = cluster.get_redis_connection(node).pipeline(transaction=False)
            pipe.execute_command("EVALSHA", self.apply_script.sha, len(keys), *keys, *args)
            if waits:
                pipe.execute_command("WAIT", self._wait_replicas, self._wait_ms)
            return list(pipe.execute(raise_on_error=False))
        except RedisClusterException as exc:
            raise redis.ConnectionError(f"Redis Cluster: {exc}") from exc
        except (redis.ConnectionError, redis.TimeoutError):
            self._refresh()
            raise

    def _refresh(self) -> None:
        """Ask the Cluster again which master serves which slot (after a failover)."""
        cluster = self.cluster()
        if cluster is None:
            return
        with contextlib.suppress(RedisClusterException, redis.RedisError):
            cluster.nodes_manager.initialize()  # else the next flush asks again

    # --- many shards in one round trip ----------------------------------------------------

    def run(self, calls: Sequence[Call]) -> list[Any]:
        """The replies of script ``calls``, pipelined (one round trip; one per master).

        A script Redis lost (``NOSCRIPT``) is loaded again.
        """
        if len(calls) == 1:
            script, keys, args = calls[0]
            return [script(keys=keys, args=args)]
        found: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for _ in range(2):
            pipe = self.client.pipeline(transaction=False)
            for i in pending:
                script, keys, args = calls[i]
                pipe.execute_command(
                    "EVALSHA", script.sha, len(keys), *keys, *args
                )  # pipe.evalsha: refused by a Cluster pipeline
            results = self._execute(pipe)
            lost: dict[int, Script] = {}
            missing = []
            for i, result in zip(pending, results, strict=True):
                if isinstance(result, NoScriptError):
                    lost[id(calls[i][0])] = calls[i][0]
                    missing.append(i)
                elif isinstance(result, Exception):
                    raise result
                else:
                    found[i] = result
            if not missing:
                return found
            pending = missing
            for script in lost.values():
                script.sha = self.client.script_load(script.script)
        raise redis.ResponseError("NOSCRIPT twice in a row: scripts flushed while reading")

    def commands(self, build: Callable[[Any], object]) -> list[Any]:
        """The replies of the commands ``build(pipe)`` queues, pipelined."""
        pipe = self.client.pipeline(transaction=False)
        build(pipe)
        results = self._execute(pipe)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    def _execute(self, pipe: Any) -> list[Any]:
        try:
            return list(pipe.execute(raise_on_error=False))
        except RedisClusterException as exc:
            raise redis.ConnectionError(f"Redis Cluster: {exc}") from exc
