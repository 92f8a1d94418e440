"""A fake Anthropic Messages API on real HTTP, for tests, examples and the demo.

Point the real SDK at it; answers are scripted, or derived from the request and a seed::

    from agentguard_trace.fake import Fail, FakeAnthropicServer, Reply, ToolUse

    with FakeAnthropicServer(seed=1) as server:
        server.enqueue(Fail(status=429, retry_after_s=0.01), Reply(text="Hello"))
        client = anthropic.Anthropic(base_url=server.url, api_key="test-key")
        message = client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=[...])
        assert len(server.requests) == 2  # the SDK retried the 429

Steps: :class:`Reply` (text, :class:`ToolUse`, stop reason, usage), :class:`Fail` (an HTTP
error with the API's body, ``retry-after``, ``error.details.error_code``),
:class:`FailMidStream` (``event: error`` inside a stream) and :class:`Delay` (a slow answer,
to provoke client timeouts). With the queue empty the server emulates prompt caching:
``cache_control`` breakpoints write their prefix on first sight and read it within the TTL.

Needs the ``fake`` extra (starlette, uvicorn): ``pip install 'agentguard-trace[fake]'``.
"""

from __future__ import annotations

from agentguard_trace.fake._script import (
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
from agentguard_trace.fake._server import DATED_MODELS, FakeAnthropicServer

__all__ = [
    "DATED_MODELS",
    "Answer",
    "Batch",
    "BatchOutcome",
    "Delay",
    "Fail",
    "FailMidStream",
    "FakeAnthropicServer",
    "Provider",
    "RecordedRequest",
    "Reply",
    "ServiceTier",
    "Speed",
    "Step",
    "StopReason",
    "ToolUse",
]
