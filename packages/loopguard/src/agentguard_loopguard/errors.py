"""The exception the loop guard raises on purpose.

The tree (under the core's root, :class:`agentguard.AgentGuardError`)::

    AgentGuardError
    └── ToolLoopDetected    the guard stopped a tool-call loop

Bad configuration raises the built-in ``ValueError`` or ``TypeError`` at once.
"""

from __future__ import annotations

from agentguard import AgentGuardError
from agentguard.events import LoopPattern

__all__ = ["ToolLoopDetected"]


class ToolLoopDetected(AgentGuardError):  # noqa: N818 (the name is fixed by DESIGN.md section 2)
    """The loop guard stopped a run's tool-call loop; the call was refused or its result dropped.

    Attributes:
        tool: The tool being called in the loop (for a cycle, the call where it began).
        pattern: The shape of the loop: ``repeat``, ``cycle``, ``polling``, ``error_repeat``.
        repeats: How far the loop had gone (see :class:`agentguard_loopguard.Detection`).
        run_id: The run it happened in, ``None`` outside any run.
    """

    def __init__(
        self, *, tool: str, pattern: LoopPattern, repeats: int, run_id: str | None = None
    ) -> None:
        super().__init__(
            f"tool {tool!r} is looping ({pattern}, {repeats} calls) and the loop guard stopped "
            f"it; change the approach instead of calling it again"
        )
        self.tool = tool
        self.pattern: LoopPattern = pattern
        self.repeats = repeats
        self.run_id = run_id

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.tool, self.pattern, self.repeats, self.run_id))


def _rebuild(tool: str, pattern: LoopPattern, repeats: int, run_id: str | None) -> ToolLoopDetected:
    return ToolLoopDetected(tool=tool, pattern=pattern, repeats=repeats, run_id=run_id)
