"""The tracer: what ``instrument(client)`` adds to a ``messages.create`` (DESIGN.md P4),
measured against the same client uninstrumented over an in-memory transport in the same run,
and what ``@tool`` adds to a call."""

from __future__ import annotations

import anthropic
import httpx2

from agentguard import Bus
from agentguard_trace import instrument, tool
from bench._harness import Report, ns_per_call

COMMAND = "nox -s bench -- trace   (or: python -m bench trace)"

_BODY = {
    "id": "msg_bench",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "Hello."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 1200,
        "output_tokens": 300,
        "cache_read_input_tokens": 9000,
        "cache_creation_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
    },
}


def _client() -> anthropic.Anthropic:
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=_BODY, headers={"request-id": "req_bench"})

    return anthropic.Anthropic(
        api_key="bench",
        base_url="http://anthropic.invalid",
        http_client=httpx2.Client(transport=httpx2.MockTransport(answer)),
        max_retries=0,
    )


def run() -> Report:
    """Measure and return the report."""
    report = Report("trace: instrument() and @tool overhead (DESIGN.md P4)", COMMAND)
    bus = Bus()
    bus.subscribe(lambda event: None)  # a listener, so events are built and delivered
    plain = _client()
    traced = instrument(_client(), bus=bus)
    kwargs = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 512,
        "messages": [{"role": "user", "content": "Hello"}],
    }

    def call_plain() -> None:
        plain.messages.create(**kwargs)  # type: ignore[call-overload]  # a fixed, valid request

    def call_traced() -> None:
        traced.messages.create(**kwargs)  # type: ignore[call-overload]  # a fixed, valid request

    # Interleaved rounds, best of each, so drift on the machine hits both alike.
    plain_ns = traced_ns = float("inf")
    for _ in range(5):
        plain_ns = min(plain_ns, ns_per_call(call_plain, number=1_000, repeat=3))
        traced_ns = min(traced_ns, ns_per_call(call_traced, number=1_000, repeat=3))
    report.measured("messages.create, uninstrumented (in-memory transport)", plain_ns)
    report.measured("messages.create, instrument()ed", traced_ns)
    report.target("P4 added by instrument() per call", (traced_ns - plain_ns) / 1000, 25, "us")

    def work() -> int:
        return 1

    measured_work = tool("work", bus=bus)(work)
    bare = ns_per_call(work)
    wrapped = ns_per_call(measured_work)
    report.measured("a function, bare", bare)
    report.measured("the same function under @tool", wrapped)
    report.measured("added by @tool per call", wrapped - bare)
    return report
