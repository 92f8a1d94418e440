"""What went wrong between this client and Redis, in one line: a setup mistake or an outage.

:class:`RedisSetupError` is a URL that does not fit the deployment, which no retry mends: a
refused login or command (:class:`RedisCredentialsError`: ``WRONGPASS``, ``NOAUTH``,
``NOPERM``), TLS on one side only, a Cluster node reached as a single server.
:class:`RedisUnavailableError` is an outage (host unreachable, Cluster down or the store's slot
uncovered, no Sentinel names the primary); it is a ``redis.ConnectionError``, so code that
retries outages keeps retrying it. Messages never hold the password.
"""

from __future__ import annotations

import redis
from redis.exceptions import AuthorizationError, NoPermissionError

from agentguard.errors import AgentGuardError

__all__ = [
    "RedisCredentialsError",
    "RedisSetupError",
    "RedisUnavailableError",
    "credentials_refused",
]


class RedisSetupError(AgentGuardError):
    """The Redis URL does not fit the deployment; retrying never mends it.

    Attributes:
        reason: ``auth`` (see :class:`RedisCredentialsError`), ``tls`` (TLS on one side
            only, or a certificate not trusted) or ``cluster`` (a Cluster node reached as a
            single server).
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class RedisCredentialsError(RedisSetupError):
    """Redis refused this client's login or a command its user may not run.

    Attributes:
        code: ``WRONGPASS``, ``NOAUTH`` or ``NOPERM`` (what Redis answered).
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, reason="auth")
        self.code = code


class RedisUnavailableError(AgentGuardError, redis.ConnectionError):
    """Redis cannot serve this client now, said in one line (an outage: retry it).

    Attributes:
        reason: ``unreachable``, ``cluster_down``, ``slots`` (slots not served by any
            master) or ``sentinel`` (no Sentinel answers, or none knows the service).
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def credentials_refused(exc: BaseException) -> RedisCredentialsError | None:
    """The :class:`RedisCredentialsError` that ``exc`` (from redis-py) stands for, if any.

    ``None`` for everything else: an unreachable or hanging server is an outage.
    """
    detail = str(exc).strip().split(", ")[0].rstrip(".")
    if isinstance(exc, NoPermissionError):
        return RedisCredentialsError(
            f"Redis refused a command to this user (NOPERM: {detail}); "
            "its ACL must allow the agentguard store's commands and scripts",
            code="NOPERM",
        )
    if isinstance(exc, redis.AuthenticationError | AuthorizationError):
        # redis-py drops the reply's code; its text tells them apart
        if "invalid" in detail or "no password is set" in detail:
            code, what = "WRONGPASS", "Redis refused the user or password of the URL"
        else:
            code, what = "NOAUTH", "Redis requires a password and the URL gives none"
        return RedisCredentialsError(
            f"{what} ({code}: {detail}); fix redis://user:password@host in the URL", code=code
        )
    return None
