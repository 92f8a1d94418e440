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

Usage beyond tokens is scripted on the reply and sent where the API sends it (in a stream,
``service_tier``, ``speed`` and ``inference_geo`` on ``message_start``; ``server_tool_use``
and ``output_tokens_details`` on ``message_delta``)::

    Reply(thinking_tokens=25, web_search_requests=2, speed="fast", service_tier="priority")

``FakeAnthropicServer(answer_model=DATED_MODELS)`` answers ``claude-sonnet-4-5`` with
``claude-sonnet-4-5-20250929`` (any mapping or callable works; ``Reply(model=...)`` wins).

URL shapes, each recorded as the request's ``provider``: the first-party ones
(``/v1/messages``, also ``?beta=true`` and under a prefix such as Foundry's
``/anthropic``; ``AnthropicAWS``, ``AnthropicBedrockMantle`` and ``AnthropicGoogleCloud``
send them too when given a ``base_url``); Bedrock's
``/model/{model}/invoke`` and ``/invoke-with-response-stream`` (AWS event-stream frames,
Bedrock's error bodies and ``x-amzn-ErrorType``)::

    anthropic.AnthropicBedrock(base_url=server.url, aws_access_key="x", aws_secret_key="y",
                               aws_region="us-east-1")

and Vertex's ``/projects/{p}/locations/{r}/publishers/anthropic/models/{model}:rawPredict``
and ``:streamRawPredict``::

    anthropic.AnthropicVertex(base_url=server.url, region="us-east5", project_id="p",
                              access_token="t")

Message Batches: create, retrieve, list, cancel, delete and JSONL results; every request
answered as a plain one would be, at the ``batch`` tier, and ended at once, unless a queued
:class:`Batch` scripts outcomes per ``custom_id`` and retrievals that stay ``in_progress``.

Managed Agents sessions (``client.beta.sessions``: create, retrieve, ``events.list`` and
``events.stream``), scripted from model requests, tool runs, error events and usage
snapshots, with a stream that drops on cue::

    session_id = server.add_session(ManagedSession(steps=[
        ModelRequest(input_tokens=900, output_tokens=120), ToolRun(name="bash"),
        SessionError(type="model_overloaded_error")], drop_after=3, missed_while_dropped=1))

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
from agentguard_trace.fake._sessions import (
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
