"""Usage that someone else's loop reports, priced and published as ``LLMCallFinished``."""

from __future__ import annotations

import logging
import time
from typing import Final

from agentguard import Bus
from agentguard.context import RunContext
from agentguard.episodes import FailureEpisodes
from agentguard.events import Event, LLMCallFinished
from agentguard_trace.pricing import PriceTable, cost_fields, normalize_model
from agentguard_trace.usage import Usage

_logger = logging.getLogger("agentguard.claude_agent")
EPISODES: Final = FailureEpisodes(_logger)
"""Failures of the hooks and the watcher, logged once per episode."""

_DEFAULT_PRICES: PriceTable | None = None


def default_prices() -> PriceTable:
    """The process-wide price table, made on first use (genai-prices loads lazily)."""
    global _DEFAULT_PRICES  # noqa: PLW0603 (one table per process, like the tracer's)
    if _DEFAULT_PRICES is None:
        _DEFAULT_PRICES = PriceTable()
    return _DEFAULT_PRICES


def llm_call(
    prices: PriceTable,
    model: str,
    usage: Usage,
    *,
    run: RunContext | None,
    duration_s: float,
    at_unix_s: float | None = None,
    streamed: bool = False,
    ok: bool = True,
    error_kind: str | None = None,
    stop_reason: str | None = None,
    request_id: str | None = None,
) -> LLMCallFinished:
    """The ``LLMCallFinished`` of one model request, priced as the tracer prices a call."""
    cost = (
        prices.price_parts(
            model, usage.counts(), speed=usage.speed, service_tier=usage.service_tier
        )
        if model
        else None
    )
    return LLMCallFinished(
        at_unix_s=time.time() if at_unix_s is None else at_unix_s,
        run_id=None if run is None else run.run_id,
        agent=None if run is None else run.agent,
        session_id=None if run is None else run.session_id,
        provider="anthropic",
        model=normalize_model(model) if model else "",
        request_model=model or None,
        **usage.event_fields(),
        **cost_fields(cost),
        duration_s=max(duration_s, 0.0),
        streamed=streamed,
        ok=ok,
        error_kind=error_kind,
        stop_reason=stop_reason,
        request_id=request_id,
    )


def publish(bus: Bus, event: Event) -> None:
    """Publish without ever raising into the agent (the bus isolates handlers already)."""
    try:
        bus.publish(event)
    except Exception as exc:  # noqa: BLE001 (nothing reaches the agent from here)
        EPISODES.failed("claude_agent.publish", "publishing an event failed", exc)
