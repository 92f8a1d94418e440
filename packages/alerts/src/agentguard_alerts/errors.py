"""The exceptions agentguard-alerts raises on purpose.

The tree::

    AgentGuardError (agentguard)
    └── AlertsError
        ├── RuleConfigError (ValueError)   a rule or a rules file is wrong; names the rule and key
        └── TargetRefused (ValueError)     a webhook target the SSRF policy refuses

Delivery failures are never raised into the caller: the sender counts and logs them.
"""

from __future__ import annotations

from agentguard import AgentGuardError

__all__ = ["AlertsError", "RuleConfigError", "TargetRefused"]


class AlertsError(AgentGuardError):
    """The root of the exceptions of agentguard-alerts."""


class RuleConfigError(AlertsError, ValueError):
    """A rule, or a rules file, is not valid.

    Attributes:
        rule: The name of the rule at fault (or its position, ``rule[2]``), ``None`` when the
            fault is outside any rule.
        key: The key at fault (``threshold``, ``window``, ...), ``None`` for the rule as a whole.
        source: The file the rule came from, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        rule: str | None = None,
        key: str | None = None,
        source: str | None = None,
    ) -> None:
        where = ": ".join(
            part
            for part in (
                source,
                f"rule {rule!r}" if rule is not None else None,
                f"key {key!r}" if key is not None else None,
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.rule = rule
        self.key = key
        self.source = source
        self.reason = message


class TargetRefused(AlertsError, ValueError):  # noqa: N818 (reads as a fact, like KeyError)
    """A webhook target the SSRF policy refuses; the message says how to allow it."""
