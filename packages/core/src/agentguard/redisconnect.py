"""Redis clients from the URL users have: one server, a Cluster, Sentinel, TLS, ACL users.

:func:`connect` is the project's one factory: ``agentguard_redis.connect`` and the breaker's
shared state use it. The trap: this module imports redis-py, which the core does not depend
on, so only code that has redis-py imports it (the breaker lazily). No form does I/O when the
client is made; a plain ``redis://`` URL gives a :class:`ClusterAwareRedis`, which asks
``INFO cluster`` at its first command and on a Cluster node sends everything through a
``redis.cluster.RedisCluster`` (a later ``MOVED`` switches it too). Why it lives in the core:
docs/architecture.md, "Connections from the URL users have".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Final, Literal, cast
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster
from redis.connection import ConnectionPool
from redis.exceptions import MovedError, RedisClusterException, ResponseError

_untyped: Any = redis  # redis-py leaves these untyped: parse_url, Sentinel, execute_command

__all__ = ["URL_SCHEMES", "ClusterAwareRedis", "RedisTarget", "connect", "parse", "redact"]

URL_SCHEMES: Final = (
    "redis://",
    "rediss://",
    "unix://",
    "redis+cluster://",
    "rediss+cluster://",
    "redis+sentinel://",
    "rediss+sentinel://",
)
"""The URL forms :func:`connect` takes."""

_SENTINEL_PORT: Final = 26379
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})

_Mode = Literal["auto", "single", "cluster", "sentinel"]


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """What a URL names, parsed (no password in :attr:`shown`)."""

    mode: _Mode
    """``auto`` (ask the server), ``single``, ``cluster`` or ``sentinel``."""
    url: str
    """A ``redis://``/``rediss://``/``unix://`` URL redis-py parses (no ``cluster=`` option);
    for Sentinel, the first sentinel's address with the data servers' options."""
    tls: bool
    """Whether the data servers are reached over TLS."""
    shown: str
    """The URL as given, with ``***`` for its password: for messages and logs."""
    sentinels: tuple[tuple[str, int], ...] = ()
    """Sentinel only: the sentinels' addresses."""
    service: str = ""
    """Sentinel only: the monitored primary's name."""
    db: int = 0
    """The database number (always 0 on a Cluster)."""


def redact(url: str) -> str:
    """``url`` with ``***`` for its password (``redis://user:***@host``), never failing."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{hosts}{slash}{tail}"


def _flag(query: dict[str, str], name: str, shown: str) -> bool | None:
    value = query.pop(name, None)
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"{name}={value!r} in {shown}: say {name}=true or {name}=false")


def parse(url: str) -> RedisTarget:
    """What ``url`` names.

    Raises:
        ValueError: not one of :data:`URL_SCHEMES`, or options that contradict each other
            (a database other than 0 on a Cluster, a Sentinel URL without a service name).
    """
    if not isinstance(url, str):  # pragma: no cover (typed callers)
        raise TypeError(f"a Redis URL must be a str, got {url!r}")
    shown = redact(url)
    scheme, sep, _ = url.partition("://")
    if not sep or f"{scheme}://" not in URL_SCHEMES:
        raise ValueError(f"{shown!r} is not a Redis URL: use one of {', '.join(URL_SCHEMES)}")
    base, _, kind = scheme.partition("+")
    tls = base == "rediss"
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    cluster = _flag(query, "cluster", shown)
    if kind == "sentinel":
        return _sentinel_target(parts, base, query, shown)
    rest = f"{base}://{parts.netloc}{parts.path}" + (f"?{urlencode(query)}" if query else "")
    if base == "unix":
        if cluster:
            raise ValueError(f"{shown}: a Redis Cluster is not reached over a unix socket")
        return RedisTarget("single", rest, False, shown)
    db = _db(parts.path, query, shown)
    if kind == "cluster" or cluster:
        if db != 0:
            raise ValueError(f"{shown}: a Redis Cluster has only database 0, not {db}")
        return RedisTarget("cluster", rest, tls, shown)
    return RedisTarget("single" if cluster is False else "auto", rest, tls, shown, db=db)


def _db(path: str, query: dict[str, str], shown: str) -> int:
    text = query.get("db") or unquote(path).strip("/") or "0"
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{shown}: the database must be a number, not {text!r}") from None


def _sentinel_target(parts: Any, base: str, query: dict[str, str], shown: str) -> RedisTarget:
    userinfo, _, hosts = parts.netloc.rpartition("@")
    sentinels = []
    for item in hosts.split(","):
        address = urlsplit(f"//{item}")
        if not address.hostname:
            raise ValueError(f"{shown}: {item!r} is not a sentinel's host:port")
        sentinels.append((address.hostname, address.port or _SENTINEL_PORT))
    names = [unquote(p) for p in parts.path.split("/") if p]
    if not names or len(names) > 2:
        raise ValueError(
            f"{shown}: say which primary, {base}+sentinel://host:port[,host:port]/SERVICE[/DB]"
        )
    db = _db(names[1] if len(names) > 1 else "", query, shown)
    query.pop("db", None)
    host, port = sentinels[0]
    login = f"{userinfo}@" if userinfo else ""
    data = urlunsplit((base, f"{login}{host}:{port}", f"/{db}", urlencode(query), ""))
    return RedisTarget("sentinel", data, base == "rediss", shown, tuple(sentinels), names[0], db)


def connect(url: str, **options: Any) -> redis.Redis:
    """A redis-py client for ``url``; ``options`` are redis-py's connection options.

    ``redis://`` and ``rediss://`` give a :class:`ClusterAwareRedis` (a single server, or any
    node of a Redis Cluster, found out at the first command); ``redis+cluster://`` or
    ``?cluster=true`` a Cluster without asking, ``?cluster=false`` never one;
    ``redis+sentinel://`` the primary that Sentinel names (a ``redis.Redis`` that follows
    failovers). ``retry`` applies to the Cluster client too; its redirections (``MOVED``,
    ``ASK``) are followed always.

    Raises:
        ValueError: the URL is not one of :data:`URL_SCHEMES` or contradicts itself.
    """
    target = parse(url)
    if target.mode == "sentinel":
        return _sentinel_client(target, options)
    if target.mode == "single":
        return redis.Redis.from_url(target.url, **options)
    return ClusterAwareRedis(target, options)


def _sentinel_client(target: RedisTarget, options: dict[str, Any]) -> redis.Redis:
    kwargs = {**_untyped.connection.parse_url(target.url), **options}
    for name in ("host", "port", "connection_class", "db"):
        kwargs.pop(name, None)
    sentinel_kwargs = {
        name: kwargs[name]
        for name in ("socket_timeout", "socket_connect_timeout", "retry")
        if name in kwargs
    }
    for name in ("sentinel_username", "sentinel_password"):
        if name in kwargs:
            sentinel_kwargs[name.removeprefix("sentinel_")] = kwargs.pop(name)
    sentinel = _untyped.sentinel.Sentinel(
        list(target.sentinels), sentinel_kwargs=sentinel_kwargs, ssl=target.tls, **kwargs
    )
    client: redis.Redis = sentinel.master_for(target.service, db=target.db)
    client.redis_target = target  # type: ignore[attr-defined]  # what the URL named, for messages
    return client


class ClusterAwareRedis(redis.Redis):
    """A ``redis.Redis`` that turns out to be a whole Redis Cluster when its server is a node.

    At its first command it asks ``INFO cluster``; on a Cluster node (or when told so by the
    URL) every command, script and pipeline then goes through a ``RedisCluster`` made from
    the same URL and options, which routes each key to its master and follows
    ``MOVED``/``ASK``. The question is asked again after a failed attempt (Redis down at
    start is an outage, not an answer).
    """

    def __init__(self, target: RedisTarget, options: dict[str, Any]) -> None:
        if "db" in options:
            raise ValueError("give the database in the URL (/0), not as an option")
        super().__init__(connection_pool=ConnectionPool.from_url(target.url, **options))
        # redis-py closes only a pool it made itself: this one is ours to close too.
        self.auto_close_connection_pool = True
        self.redis_target = target
        self._options = options
        self._decided = target.mode == "single"
        self._cluster: RedisCluster | None = None
        self._lock = threading.Lock()

    @property
    def cluster_client(self) -> RedisCluster | None:
        """The Cluster client every command goes through, once the server is a node."""
        return self._cluster

    def _plain(self, *args: Any, **options: Any) -> Any:
        """A command sent to the URL's server itself."""
        return cast("Any", super()).execute_command(*args, **options)

    def _resolve(self) -> RedisCluster | None:
        with self._lock:
            if self._decided:
                return self._cluster
            if self.redis_target.mode == "cluster":
                self._cluster = self._make_cluster()
            else:
                try:
                    info = self._plain("INFO", "cluster")
                except ResponseError:  # INFO refused to this user: a MOVED answer tells later
                    info = {}
                if int(info.get("cluster_enabled", 0)) == 1:
                    self._cluster = self._make_cluster()
                    self.connection_pool.disconnect()
            self._decided = True
            return self._cluster

    def _switch_to_cluster(self) -> RedisCluster:
        with self._lock:
            if self._cluster is None:
                self._cluster = self._make_cluster()
                self.connection_pool.disconnect()
            return self._cluster

    def _make_cluster(self) -> RedisCluster:
        """The Cluster client (it connects to learn the slots: failures are ConnectionErrors)."""
        try:
            return RedisCluster.from_url(self.redis_target.url, **self._options)
        except RedisClusterException as exc:
            raise redis.ConnectionError(f"Redis Cluster: {exc}") from exc

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Run a command on the server, or through the Cluster client once it is a node."""
        cluster = self._cluster if self._decided else self._resolve()
        if cluster is not None:
            return _in_cluster(cluster, args, options)
        try:
            return self._plain(*args, **options)
        except MovedError:
            if self.redis_target.mode != "auto":
                raise
        return _in_cluster(self._switch_to_cluster(), args, options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        """A pipeline of the server, or of the Cluster client once it is a node."""
        cluster = self._cluster if self._decided else self._resolve()
        if cluster is not None:
            return cast("Any", cluster).pipeline(transaction=transaction)
        return super().pipeline(transaction=transaction, shard_hint=shard_hint)

    def close(self) -> None:
        """Close the connections (the Cluster client's too)."""
        if self._cluster is not None:
            self._cluster.close()
        super().close()

    def __repr__(self) -> str:
        return f"<ClusterAwareRedis {self.redis_target.shown} cluster={self._cluster is not None}>"


def _in_cluster(cluster: RedisCluster, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """``cluster.execute_command``, its own failures (no slot covered) as ConnectionErrors.

    redis-py raises ``RedisClusterException``, which is no ``RedisError``, where the Cluster
    leaves a slot uncovered or no node answers: every caller handles outages as
    ``RedisError``, so they are raised as one.
    """
    try:
        return cast("Any", cluster).execute_command(*args, **options)
    except RedisClusterException as exc:
        raise redis.ConnectionError(f"Redis Cluster: {exc}") from exc
