"""agentguard-trace: tracing, cost and budgets for agents on the Anthropic SDK.

Example::

    import anthropic
    from agentguard_trace import instrument, tool, traced

    client = instrument(anthropic.Anthropic())

    @tool
    def search(query: str) -> str: ...

    @traced(agent="support", max_cost_usd=0.50)
    def answer(question: str) -> str:
        reply = client.messages.create(model="claude-sonnet-4-5", max_tokens=512,
                                       messages=[{"role": "user", "content": question}])
        return reply.content[0].text

Every Messages call publishes an ``LLMCallFinished`` (tokens, cost, latency, retries), every
run ``RunStarted`` and ``RunFinished``, every tool call ``ToolCallFinished``, on the default
bus unless given another.
"""

from __future__ import annotations

from agentguard_trace.instrument import instrument
from agentguard_trace.pricing import CallCost, PriceTable, PriceTableError
from agentguard_trace.runs import BudgetExceededError, Run, RunScope, ToolScope, tool, traced

__all__ = [
    "BudgetExceededError",
    "CallCost",
    "PriceTable",
    "PriceTableError",
    "Run",
    "RunScope",
    "ToolScope",
    "instrument",
    "tool",
    "traced",
]
