"""A login or command Redis refuses, told apart from an outage.

A wrong password (``WRONGPASS``), no password where one is required (``NOAUTH``) or a user
whose ACL forbids a command the store needs (``NOPERM``) is a configuration mistake: retrying
it with backoff, as for an outage, never succeeds. :meth:`RedisStore.check
<agentguard_redis.RedisStore.check>` raises :class:`RedisCredentialsError` for them, with a
one-line message that says which and never holds the password (Redis's replies do not carry
it, and the URL is not quoted).
"""

from __future__ import annotations

import redis
from redis.exceptions import AuthorizationError, NoPermissionError

from agentguard.errors import AgentGuardError

__all__ = ["RedisCredentialsError", "credentials_refused"]


class RedisCredentialsError(AgentGuardError):
    """Redis refused this client's login or a command its user may not run.

    Attributes:
        code: ``WRONGPASS``, ``NOAUTH`` or ``NOPERM`` (what Redis answered).
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


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
