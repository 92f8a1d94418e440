"""What each event becomes in OpenTelemetry: span names, attributes, times, bucket boundaries.

Attribute names follow the OpenTelemetry GenAI semantic conventions; agentguard's own values
(cost, ids, retries) are under ``agentguard.``. The conventions say that for Anthropic
``gen_ai.usage.input_tokens`` counts every input token, cached or not, so it is the event's
:attr:`~agentguard.events.LLMCallFinished.context_tokens`, not its ``input_tokens``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Final

from agentguard.events import (
    BaseEvent,
    BreakerRejected,
    BreakerStateChanged,
    BudgetExceeded,
    LLMCallFinished,
    LoopDetected,
    PromptCacheRegressed,
    RunStarted,
    ToolCallFinished,
)

__all__ = [
    "DURATION_BOUNDARIES_S",
    "SPAN_EVENT_TYPES",
    "TOKEN_BOUNDARIES",
    "chat_attributes",
    "interval_ns",
    "run_attributes",
    "span_event_attributes",
    "to_ns",
    "tool_attributes",
]

TOKEN_BOUNDARIES: Final = (
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0,
    4194304.0, 16777216.0, 67108864.0,
)  # fmt: skip
"""``gen_ai.client.token.usage`` bucket boundaries from the GenAI conventions."""

DURATION_BOUNDARIES_S: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
"""``gen_ai.client.operation.duration`` bucket boundaries (seconds) from the conventions."""

SPAN_EVENT_TYPES: Final = (
    BreakerStateChanged,
    BreakerRejected,
    LoopDetected,
    BudgetExceeded,
    PromptCacheRegressed,
)
"""Events that become span events on their run's span."""

_COMMON: Final = frozenset(f.name for f in dataclasses.fields(BaseEvent))
_OWN_FIELDS: Final[dict[type[BaseEvent], tuple[str, ...]]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls) if f.name not in _COMMON)
    for cls in SPAN_EVENT_TYPES
}

Attributes = dict[str, "str | bool | int | float | tuple[str, ...]"]


def to_ns(unix_s: float) -> int:
    """Nanoseconds since the epoch. Raises ValueError or OverflowError on NaN or infinity."""
    return int(unix_s * 1e9)


def interval_ns(end_unix_s: float, duration_s: float) -> tuple[int, int]:
    """(start, end) in ns of something that ended at ``end_unix_s`` after ``duration_s``.

    A negative duration counts as zero (the span never ends before it starts).

    Raises:
        ValueError: A time or duration is NaN or infinite.
    """
    if not (math.isfinite(end_unix_s) and math.isfinite(duration_s)):
        raise ValueError(f"times must be finite, got end {end_unix_s!r}, duration {duration_s!r}")
    end = int(end_unix_s * 1e9)
    return end - int(max(duration_s, 0.0) * 1e9), end


def run_attributes(event: RunStarted) -> Attributes:
    """Attributes of an ``invoke_agent`` span."""
    attributes: Attributes = {"gen_ai.operation.name": "invoke_agent"}
    if event.agent is not None:
        attributes["gen_ai.agent.name"] = event.agent
    if event.run_id is not None:
        attributes["agentguard.run_id"] = event.run_id
    if event.session_id is not None:
        attributes["agentguard.session_id"] = event.session_id
    if event.parent_run_id is not None:
        attributes["agentguard.parent_run_id"] = event.parent_run_id
    return attributes


_PROVIDER_NAMES = {
    "bedrock": "aws.bedrock",
    "vertex": "gcp.vertex_ai",
    "foundry": "azure.ai.inference",
}
"""The GenAI semantic conventions' ``gen_ai.provider.name`` of the platforms that differ."""


def provider_name(provider: str) -> str:
    """``gen_ai.provider.name`` for an ``LLMCallFinished.provider``."""
    return _PROVIDER_NAMES.get(provider, provider)


def request_model(event: LLMCallFinished) -> str:
    """``gen_ai.request.model``: what the request asked for, else the model that answered."""
    return event.request_model or event.model


_REPORTED = (
    ("unpriced", "agentguard.cost_unpriced"),
    ("thinking_tokens", "gen_ai.usage.reasoning.output_tokens"),
    ("web_search_requests", "anthropic.usage.web_search_requests"),
    ("web_fetch_requests", "anthropic.usage.web_fetch_requests"),
    ("service_tier", "anthropic.response.service_tier"),
    ("speed", "anthropic.response.speed"),
    ("inference_geo", "anthropic.response.inference_geo"),
    ("batch_id", "anthropic.message.batch.id"),
    ("custom_id", "anthropic.message.batch.custom_id"),
)
"""Fields of ``LLMCallFinished`` set as span attributes when reported (not ``None``, not 0)."""


def chat_attributes(event: LLMCallFinished) -> Attributes:
    """Attributes of a ``chat`` span."""
    attributes: Attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider_name(event.provider),
        "gen_ai.request.model": request_model(event),
        "gen_ai.usage.input_tokens": event.context_tokens,
        "gen_ai.usage.output_tokens": event.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": event.cache_read_tokens,
        "gen_ai.usage.cache_creation.input_tokens": (
            event.cache_write_5m_tokens + event.cache_write_1h_tokens
        ),
        "agentguard.retries": event.retries,
    }
    if event.request_model is not None and event.model:
        attributes["gen_ai.response.model"] = event.model
    if event.stop_reason is not None:
        attributes["gen_ai.response.finish_reasons"] = (event.stop_reason,)
    if not event.ok:
        attributes["error.type"] = event.error_kind or "_OTHER"
    if event.cost_usd is not None:
        attributes["agentguard.cost_usd"] = event.cost_usd
    for field, key in _REPORTED:
        value = getattr(event, field)
        if value:
            attributes[key] = value
    if event.request_id is not None:
        attributes["anthropic.request.id"] = event.request_id
    if event.run_id is not None:
        attributes["agentguard.run_id"] = event.run_id
    return attributes


def tool_attributes(event: ToolCallFinished) -> Attributes:
    """Attributes of an ``execute_tool`` span."""
    attributes: Attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": event.tool,
    }
    if not event.ok:
        attributes["error.type"] = event.error_kind or "_OTHER"
    if event.run_id is not None:
        attributes["agentguard.run_id"] = event.run_id
    return attributes


def span_event_attributes(event: BaseEvent) -> Attributes:
    """The fields of ``event`` beyond the common ones, as span event attributes."""
    attributes: Attributes = {}
    for name in _OWN_FIELDS[type(event)]:
        value = getattr(event, name)
        if value is not None:
            attributes[name] = value
    return attributes
