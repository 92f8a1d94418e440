"""The exceptions agentguard-cache raises on purpose.

The tree::

    AgentGuardError
    └── TrackerAttachedError (RuntimeError)   attach() to a second bus while attached
"""

from __future__ import annotations

from agentguard import AgentGuardError

__all__ = ["TrackerAttachedError"]


class TrackerAttachedError(AgentGuardError, RuntimeError):
    """A tracker already attached to one bus was asked to attach to another.

    A tracker counts each call once, so it listens on one bus at a time: close it first, or
    use one tracker per bus.
    """
