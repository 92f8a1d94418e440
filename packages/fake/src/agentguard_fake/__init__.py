"""agentguard-fake: a fake Anthropic Messages API on real HTTP, for tests, examples and demos.

Point the real SDK at it; answers are scripted, or derived from the request and a seed::

    from agentguard_fake import Fail, FakeAnthropicServer, Reply

    with FakeAnthropicServer(seed=1) as server:
        server.enqueue(Fail(status=429, retry_after_s=0.01), Reply(text="Hello"))
        client = anthropic.Anthropic(base_url=server.url, api_key="test-key")

URL shapes (first-party, Bedrock, Vertex), Message Batches and Managed Agents sessions are
described in the package's README.md.
"""

from __future__ import annotations

from agentguard_fake._script import (
    Answer,
    Batch,
    BatchOutcome,
    Delay,
    Fail,
    FailMidStream,
    Provider,
    RecordedRequest,
    Reply,
    ServiceTier,
    Speed,
    Step,
    StopReason,
    ToolUse,
)
from agentguard_fake._server import DATED_MODELS, FakeAnthropicServer
from agentguard_fake._sessions import (
    ListPrice,
    ManagedSession,
    ModelRequest,
    RawEvent,
    SessionError,
    SessionStep,
    ToolRun,
    UsageSnapshot,
)

__all__ = [
    "DATED_MODELS",
    "Answer",
    "Batch",
    "BatchOutcome",
    "Delay",
    "Fail",
    "FailMidStream",
    "FakeAnthropicServer",
    "ListPrice",
    "ManagedSession",
    "ModelRequest",
    "Provider",
    "RawEvent",
    "RecordedRequest",
    "Reply",
    "ServiceTier",
    "SessionError",
    "SessionStep",
    "Speed",
    "Step",
    "StopReason",
    "ToolRun",
    "ToolUse",
    "UsageSnapshot",
]
