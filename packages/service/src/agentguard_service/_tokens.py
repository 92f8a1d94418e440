"""Bearer tokens and their scopes: which agents a token may read, and alerts or not.

A scope is a permission string, as the seed's ``currentPermissions`` are: ``agents:*``
(every agent), ``agents:<name>`` (one agent; give several), ``alerts:read``. A token file
is TOML, one table per token (``[tokens.<name>]`` with ``token`` and ``scopes``);
:func:`load_tokens` refuses it in one line (:class:`TokenFileError`, never quoting a token)
when it is malformed, names an unknown scope or key, has an empty or repeated token, or
group or others may read it. :func:`check_agents` is where a request's agents meet its
token's scope: :class:`Forbidden` (403 ``INSUFFICIENT_PERMISSIONS``).
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from agentguard.errors import AgentGuardError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover (Python 3.10)
    import tomli as tomllib

__all__ = [
    "ALERTS_SCOPE",
    "ALL_AGENTS_SCOPE",
    "Forbidden",
    "Token",
    "TokenFileError",
    "check_agents",
    "check_alerts",
    "check_tokens",
    "load_tokens",
]

ALL_AGENTS_SCOPE: Final = "agents:*"
"""The scope of every agent."""
ALERTS_SCOPE: Final = "alerts:read"
"""The scope of the alerts (``metrics=alerts``, the snapshot's ``alerts``)."""
_AGENT_PREFIX: Final = "agents:"
_MAX_AGENT: Final = 256
_TOKEN_KEYS: Final = ("token", "scopes")


class TokenFileError(AgentGuardError, ValueError):
    """A token file (or token list) that cannot be used; the message is one line."""


class Forbidden(AgentGuardError):  # noqa: N818 (reads as the answer, 403)
    """A request asks for more than its token's scopes; the app answers 403.

    Attributes:
        required: The scope that would have allowed it (``agents:billing``).
        current: The token's scopes.
    """

    def __init__(self, message: str, required: str, current: Sequence[str]) -> None:
        super().__init__(message)
        self.message = message
        self.required = required
        self.current = tuple(current)

    def body(self) -> dict[str, object]:
        """The 403 body, in the seed's shape."""
        return {
            "error": "INSUFFICIENT_PERMISSIONS",
            "message": self.message,
            "details": {
                "requiredPermission": self.required,
                "currentPermissions": list(self.current),
            },
        }


def _scope_problem(scope: object) -> str | None:
    """Why ``scope`` is not a scope, or ``None``."""
    if not isinstance(scope, str):
        return f"a scope must be a string, got {scope!r}"
    if scope in (ALL_AGENTS_SCOPE, ALERTS_SCOPE):
        return None
    agent = scope.removeprefix(_AGENT_PREFIX)
    if scope.startswith(_AGENT_PREFIX) and 0 < len(agent) <= _MAX_AGENT and agent.isprintable():
        return None
    return (
        f"unknown scope {scope!r}: use {ALL_AGENTS_SCOPE!r}, 'agents:<agent name>' "
        f"(1 to {_MAX_AGENT} printable characters) or {ALERTS_SCOPE!r}"
    )


def _secret_problem(secret: object) -> str | None:
    """Why ``secret`` cannot be a bearer token, or ``None`` (the secret is never quoted)."""
    if not isinstance(secret, str):
        return f"the token must be a string, got {type(secret).__name__}"
    if not secret:
        return "the token is empty"
    if not secret.isprintable() or secret != secret.strip():
        return "the token must be printable, without spaces around it (a header carries it)"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """A bearer token and what it may read. Its ``repr`` leaves the secret out.

    Raises:
        ValueError: an empty or unusable secret, no scope, or an unknown scope.
    """

    name: str
    """What logs and errors call it (never the secret)."""
    secret: str = field(repr=False)
    """The bearer token itself."""
    scopes: tuple[str, ...] = (ALL_AGENTS_SCOPE, ALERTS_SCOPE)
    """What it may read: :data:`ALL_AGENTS_SCOPE`, ``agents:<name>``, :data:`ALERTS_SCOPE`."""

    def __post_init__(self) -> None:
        problem = _secret_problem(self.secret)
        if problem is not None:
            raise ValueError(f"token {self.name!r}: {problem}")
        scopes: object = self.scopes  # a str, by mistake, is refused too
        if isinstance(scopes, str) or not self.scopes:
            raise ValueError(f"token {self.name!r}: give a list of one scope or more")
        for scope in self.scopes:
            problem = _scope_problem(scope)
            if problem is not None:
                raise ValueError(f"token {self.name!r}: {problem}")

    @property
    def agents(self) -> frozenset[str] | None:
        """The agents it may read; ``None`` for every agent."""
        if ALL_AGENTS_SCOPE in self.scopes:
            return None
        return frozenset(
            s.removeprefix(_AGENT_PREFIX) for s in self.scopes if s.startswith(_AGENT_PREFIX)
        )

    @property
    def alerts(self) -> bool:
        """Whether it may read the alerts."""
        return ALERTS_SCOPE in self.scopes

    @property
    def full(self) -> bool:
        """Whether it may read everything (as the single ``token=`` may)."""
        return self.agents is None and self.alerts


FULL_ACCESS: Final = Token(name="(no token configured)", secret="-")  # noqa: S106 (no secret)
"""The scope of a request to a service with no token: everything."""


def check_agents(token: Token, agents: Iterable[str]) -> None:
    """Raise :class:`Forbidden` unless ``token`` may read every one of ``agents``.

    Call it wherever a request names agents (``agent=``, a batch's items), once they are
    parsed: the first agent outside the scope is named in the answer.
    """
    allowed = token.agents
    if allowed is None:
        return
    for agent in agents:
        if agent not in allowed:
            raise Forbidden(
                f"This token may not read agent {agent!r}; it may read "
                f"{', '.join(sorted(allowed)) or 'no agent'}",
                f"{_AGENT_PREFIX}{agent}",
                token.scopes,
            )


def check_alerts(token: Token) -> None:
    """Raise :class:`Forbidden` unless ``token`` may read the alerts."""
    if not token.alerts:
        raise Forbidden(
            f"Reading alerts requires the {ALERTS_SCOPE} scope", ALERTS_SCOPE, token.scopes
        )


def check_tokens(tokens: Iterable[Token]) -> tuple[Token, ...]:
    """``tokens`` as a tuple; :class:`TokenFileError` if two share a secret or a name."""
    seen: dict[str, str] = {}
    names: set[str] = set()
    out = tuple(tokens)
    for token in out:
        if not isinstance(token, Token):
            raise TypeError(f"tokens must be agentguard_service.Token, got {type(token).__name__}")
        if token.name in names:
            raise TokenFileError(f"two tokens are named {token.name!r}; name each once")
        names.add(token.name)
        twin = seen.get(token.secret)
        if twin is not None:
            raise TokenFileError(
                f"tokens {twin!r} and {token.name!r} are the same token; give each its own"
            )
        seen[token.secret] = token.name
    return out


def load_tokens(path: str | os.PathLike[str]) -> tuple[Token, ...]:
    """The tokens of a TOML token file (packages/service/README.md has the format).

    Raises:
        TokenFileError: the file cannot be read, is readable by group or others, is not
            TOML, names no token, an unknown key or scope, or has an empty or repeated
            token. One line, naming the file and the token's name, never its secret.
    """
    where = os.fspath(path)
    try:
        mode = os.stat(where).st_mode
        if mode & 0o077:
            raise TokenFileError(
                f"token file {where}: group or others may access it "
                f"(mode {stat.filemode(mode)}); chmod 600 {where}"
            )
        text = Path(where).read_text(encoding="utf-8")
    except OSError as exc:
        raise TokenFileError(
            f"token file {where}: cannot read it ({exc.strerror or exc})"
        ) from None
    except UnicodeDecodeError:
        raise TokenFileError(f"token file {where}: not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TokenFileError(f"token file {where}: not valid TOML ({exc})") from None
    unknown = sorted(set(document) - {"tokens"})
    if unknown:
        raise TokenFileError(
            f"token file {where}: unknown key {unknown[0]!r}; put each token in a "
            "[tokens.<name>] table"
        )
    tables = document.get("tokens")
    if not isinstance(tables, dict) or not tables:
        raise TokenFileError(f"token file {where}: no token; add a [tokens.<name>] table")
    tokens: list[Token] = []
    for name, table in tables.items():
        tokens.append(_token(where, name, table))
    try:
        return check_tokens(tokens)
    except TokenFileError as exc:
        raise TokenFileError(f"token file {where}: {exc}") from None


def _token(where: str, name: str, table: object) -> Token:
    prefix = f"token file {where}: token {name!r}"
    if not isinstance(table, dict):
        raise TokenFileError(f"{prefix}: must be a table with token and scopes")
    unknown = sorted(set(table) - set(_TOKEN_KEYS))
    if unknown:
        raise TokenFileError(f"{prefix}: unknown key {unknown[0]!r}; use token and scopes")
    missing = [key for key in _TOKEN_KEYS if key not in table]
    if missing:
        raise TokenFileError(f"{prefix}: no {missing[0]}")
    scopes = table["scopes"]
    if not isinstance(scopes, list):
        raise TokenFileError(f"{prefix}: scopes must be a list, e.g. [{ALL_AGENTS_SCOPE!r}]")
    try:
        return Token(name=name, secret=table["token"], scopes=tuple(scopes))
    except ValueError as exc:
        raise TokenFileError(f"token file {where}: {exc}") from None
