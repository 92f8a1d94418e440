"""agentguard-claude-agent: guard agents whose loop Anthropic's own tooling runs.

The Claude Agent SDK: hooks deny the tool calls of a loop or a spent budget, and the message
stream gives runs and priced model requests::

    guard = ClaudeAgentGuard("coder", loop_guard=LoopGuard(), max_cost_usd=0.50)
    async for message in guard.watch(query(prompt=task, options=guard.options(options))):
        ...

Managed Agents sessions (``client.beta.sessions``): follow a session's event stream and
publish the same events::

    report = watch_session(client, session_id)          # or: await awatch_session(...)
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
