"""The exceptions agentguard-claude-agent raises on purpose.

The tree::

    AgentGuardError
    └── SessionNotFoundError (LookupError)   watch_session: no such session for this API key
"""

from __future__ import annotations

from agentguard import AgentGuardError

__all__ = ["SessionNotFoundError"]


class SessionNotFoundError(AgentGuardError, LookupError):
    """The session does not exist (or this API key cannot see it).

    Attributes:
        session_id: The id that was asked for.
    """

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"no Managed Agents session {session_id!r}: check the id and that the client's "
            "API key belongs to the session's workspace"
        )
        self.session_id = session_id
