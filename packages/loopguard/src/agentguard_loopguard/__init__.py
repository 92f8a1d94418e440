"""agentguard-loopguard: tells when an agent's tool calls go round in a loop; warns, then stops.

:class:`LoopGuard` watches each run's tool calls (tool, canonical arguments, results or errors)
for exact repeats, A-B-A-B cycles, polling that returns the same result and the same error
over and over. The first detection publishes ``LoopDetected(action="warn")``; if the loop goes
on, ``LoopDetected(action="stop")`` and :class:`ToolLoopDetected` is raised::

    from agentguard_loopguard import LoopGuard, max_cycle, max_repeats

    guard = LoopGuard(max_repeats(4) | max_cycle(6), allow=["job_status"])

    @guard.watch
    def search(query: str) -> list[str]: ...

    guard.check("search", {"query": "weather"})  # or from a framework, per tool_use block
"""

from __future__ import annotations

from agentguard_loopguard.errors import ToolLoopDetected
from agentguard_loopguard.guard import LoopGuard
from agentguard_loopguard.policies import (
    AllOf,
    AnyOf,
    Detection,
    Policy,
    default_policy,
    max_cycle,
    max_polls,
    max_repeated_errors,
    max_repeats,
)
from agentguard_loopguard.state import LoopState, ToolCall

__all__ = [
    "AllOf",
    "AnyOf",
    "Detection",
    "LoopGuard",
    "LoopState",
    "Policy",
    "ToolCall",
    "ToolLoopDetected",
    "default_policy",
    "max_cycle",
    "max_polls",
    "max_repeated_errors",
    "max_repeats",
]
