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

Every Messages call publishes an ``LLMCallFinished``, every run ``RunStarted`` and
``RunFinished``, every tool call ``ToolCallFinished``, on the default bus unless given another;
``SessionRecorder`` turns them into the session summary (printed, JSON, CSV).
"""

from __future__ import annotations

from agentguard_trace._instrument import instrument, instrument_all, uninstrument_all
from agentguard_trace._summary_model import (
    CSV_COLUMNS,
    ContextSize,
    CostBreakdown,
    ErrorCount,
    ModelStats,
    RunCounts,
    SessionSummary,
    SlowStep,
    StepKind,
    StepRecord,
    StepTimes,
    TokenCounts,
    ToolStats,
)
from agentguard_trace.errors import BudgetExceededError, PriceTableError, TokenCountError
from agentguard_trace.pricing import (
    CallCost,
    CallUsage,
    PriceOverrides,
    PriceParts,
    PriceTable,
    normalize_model,
)
from agentguard_trace.runs import Run, RunScope, ToolScope, tool, traced
from agentguard_trace.summary import SessionRecorder, print_summary

__all__ = [
    "CSV_COLUMNS",
    "BudgetExceededError",
    "CallCost",
    "CallUsage",
    "ContextSize",
    "CostBreakdown",
    "ErrorCount",
    "ModelStats",
    "PriceOverrides",
    "PriceParts",
    "PriceTable",
    "PriceTableError",
    "Run",
    "RunCounts",
    "RunScope",
    "SessionRecorder",
    "SessionSummary",
    "SlowStep",
    "StepKind",
    "StepRecord",
    "StepTimes",
    "TokenCountError",
    "TokenCounts",
    "ToolScope",
    "ToolStats",
    "instrument",
    "instrument_all",
    "normalize_model",
    "print_summary",
    "tool",
    "traced",
    "uninstrument_all",
]
