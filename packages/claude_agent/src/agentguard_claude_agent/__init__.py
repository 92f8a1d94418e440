"""agentguard-claude-agent: guard agents whose loop Anthropic's own tooling runs.

The Claude Agent SDK (``claude-agent-sdk``)::

    guard = ClaudeAgentGuard("coder", loop_guard=LoopGuard(), max_cost_usd=0.50)
    async for message in guard.watch(query(prompt=task, options=guard.options(options))):
        ...

publishes runs, every model request (priced), every tool call, and denies the tool calls of a
loop or of a spent budget. Managed Agents sessions (``client.beta.sessions``)::

    report = watch_session(client, session_id)          # or: await awatch_session(...)

follow a session's event stream and publish the same events.
"""

from __future__ import annotations

from agentguard_claude_agent.agent_sdk import ClaudeAgentGuard, GuardedRun
from agentguard_claude_agent.errors import SessionNotFoundError
from agentguard_claude_agent.sessions import SessionReport, awatch_session, watch_session

__all__ = [
    "ClaudeAgentGuard",
    "GuardedRun",
    "SessionNotFoundError",
    "SessionReport",
    "awatch_session",
    "watch_session",
]
