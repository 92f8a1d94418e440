"""The store's clients, from any URL users have, and failures said in one line.

:func:`connect` makes a client for ``redis://`` (a single server, or any node of a Redis
Cluster, found out at the first command), ``rediss://`` (TLS; ``ssl_*`` query options),
``redis+cluster://`` or ``?cluster=true``, ``redis+sentinel://`` and ``unix://``, with
``user:password@`` for ACL users (the forms are in the package README). It is
``agentguard.redisconnect.connect`` with the store's timeouts and no client retries.

:func:`diagnose` turns what redis-py raised into a :class:`RedisSetupError` or a
:class:`RedisUnavailableError` with a one-line message that never holds the password.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any, Final
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ClusterDownError, MovedError
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError

from agentguard.redisconnect import RedisTarget
from agentguard.redisconnect import connect as connect_url
from agentguard_redis.errors import (
    RedisSetupError,
    RedisUnavailableError,
    credentials_refused,
)

__all__ = ["connect", "diagnose"]

_PROBE_TIMEOUT_S: Final = 0.5
_MAX_LINE: Final = 240


def connect(
    url: str, *, socket_timeout_s: float = 1.0, connect_timeout_s: float = 0.5, **options: Any
) -> redis.Redis:
    """A client for ``url`` with explicit timeouts and without redis-py's own retries.

    Timeouts bound how long a hung server can hold a flush; retries are the aggregator's
    (it resends the same batch, which the store applies once), never the client's. A Cluster
    client still follows ``MOVED``/``ASK`` redirections. ``options`` go to redis-py (for
    example ``ssl_ca_certs``, which the URL can carry as well). No I/O is done here.

    Raises:
        ValueError: ``url`` is not a Redis URL of a form the README lists.
    """
    return connect_url(
        url,
        **{
            "socket_timeout": socket_timeout_s,
            "socket_connect_timeout": connect_timeout_s,
            "retry": Retry(NoBackoff(), 0),
            "health_check_interval": 0,
            **options,
        },
    )


def _line(exc: BaseException, secret: str | None) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if secret:
        text = text.replace(secret, "***")
    return text if len(text) <= _MAX_LINE else f"{text[: _MAX_LINE - 3]}..."


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _address(target: RedisTarget) -> tuple[str, int] | None:
    parts = urlsplit(target.url)
    if parts.scheme == "unix" or parts.hostname is None:
        return None
    return parts.hostname, parts.port or 6379


def _speaks_tls(address: tuple[str, int]) -> bool:
    """Whether the server at ``address`` completes a TLS handshake (certificate not checked)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only whether it speaks TLS at all
    try:
        with (
            socket.create_connection(address, timeout=_PROBE_TIMEOUT_S) as raw,
            context.wrap_socket(raw, server_hostname=address[0]),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False


def _speaks_plain(address: tuple[str, int]) -> bool:
    """Whether the server at ``address`` answers a plain-text ``PING`` (any RESP reply)."""
    try:
        with socket.create_connection(address, timeout=_PROBE_TIMEOUT_S) as raw:
            raw.sendall(b"PING\r\n")
            return raw.recv(1)[:1] in (b"+", b"-")
    except OSError:
        return False


def diagnose(exc: BaseException, client: object = None) -> BaseException:
    """The one-line error that ``exc``, raised by ``client``, stands for.

    A :class:`RedisSetupError` (credentials, TLS on one side only, a certificate not
    trusted, a Cluster node reached as a single server), a :class:`RedisUnavailableError`
    (unreachable, Cluster down or slots not covered, no Sentinel knows the primary), or
    ``exc`` itself when it is none of these. It may open one connection to tell a TLS port
    from a plain one.
    """
    if isinstance(exc, RedisSetupError | RedisUnavailableError):
        return exc
    refused = credentials_refused(exc)
    if refused is not None:
        return refused
    target: RedisTarget | None = getattr(client, "redis_target", None)
    pool = getattr(client, "connection_pool", None)
    secret = None if pool is None else getattr(pool, "connection_kwargs", {}).get("password")
    line = _line(exc, secret)
    chain = _chain(exc)
    found = _sentinel(chain, line, target) or _cluster(exc, chain, line) or _tls(chain, line)
    if found is not None:
        return found
    if not isinstance(exc, redis.ConnectionError | redis.TimeoutError | OSError):
        return exc
    return _mismatch(line, target) or RedisUnavailableError(
        f"cannot reach Redis ({line})", reason="unreachable"
    )


def _sentinel(
    chain: list[BaseException], line: str, target: RedisTarget | None
) -> RedisUnavailableError | None:
    if not any(isinstance(e, MasterNotFoundError) for e in chain):
        return None
    where = "" if target is None else " at " + ",".join(f"{h}:{p}" for h, p in target.sentinels)
    if " : " in line:  # redis-py lists the sentinels it could not ask
        return RedisUnavailableError(
            f"no Sentinel answered{where}: check the sentinels' host:port in the URL",
            reason="sentinel",
        )
    service = "this service" if target is None else f"service {target.service!r}"
    return RedisUnavailableError(
        f"no Sentinel{where} knows a primary for {service}: check the service name "
        "in redis+sentinel://host:port/SERVICE, or whether its primary is down",
        reason="sentinel",
    )


def _cluster(exc: BaseException, chain: list[BaseException], line: str) -> Exception | None:
    if isinstance(exc, MovedError):
        return RedisSetupError(
            f"the server is a node of a Redis Cluster and sent this client to another (MOVED "
            f"{line}): leave ?cluster=false out of the URL, or pass a redis.cluster.RedisCluster",
            reason="cluster",
        )
    if any(isinstance(e, ClusterDownError) for e in chain) or "CLUSTERDOWN" in line:
        if "not served" in line:
            return RedisUnavailableError(
                f"the Redis Cluster serves no master for the store's slot ({line}): "
                "slots not covered; check it with redis-cli --cluster check",
                reason="slots",
            )
        return RedisUnavailableError(f"the Redis Cluster is down ({line})", reason="cluster_down")
    if "slots are not covered" in line or "not covered by" in line:
        return RedisUnavailableError(
            f"the Redis Cluster leaves slots uncovered ({line}); "
            "check it with redis-cli --cluster check",
            reason="slots",
        )
    return None


def _tls(chain: list[BaseException], line: str) -> RedisSetupError | None:
    ssl_error = any(isinstance(e, ssl.SSLError) for e in chain) or "SSL" in line
    if ssl_error and "CERTIFICATE_VERIFY_FAILED" in line:
        return RedisSetupError(
            f"the server's TLS certificate is not trusted ({line}); give its CA as "
            "rediss://host:port/0?ssl_ca_certs=/path/to/ca.pem",
            reason="tls",
        )
    if ssl_error:
        return RedisSetupError(
            f"the TLS handshake failed ({line}): the port speaks plain Redis? "
            "a plain port takes redis://, not rediss://",
            reason="tls",
        )
    return None


def _mismatch(line: str, target: RedisTarget | None) -> RedisSetupError | None:
    """TLS on one side only, found by asking the port (the client saw a timeout or a close)."""
    if target is None or target.mode == "sentinel" or "refused" in line.lower():
        return None
    address = _address(target)
    if address is None:
        return None
    if target.tls and _speaks_plain(address):
        return RedisSetupError(
            f"the server at {address[0]}:{address[1]} speaks plain Redis, not TLS ({line}): "
            "a plain port takes redis://, not rediss://",
            reason="tls",
        )
    if not target.tls and _speaks_tls(address):
        return RedisSetupError(
            f"the server at {address[0]}:{address[1]} speaks TLS: use rediss:// "
            "(and ?ssl_ca_certs=/path/to/ca.pem for a private CA)",
            reason="tls",
        )
    return None
