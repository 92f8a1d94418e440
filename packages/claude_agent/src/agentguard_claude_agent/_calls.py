"""Usage that someone else's loop reports, priced and published as ``LLMCallFinished``."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from agentguard import Bus
from agentguard.context import RunContext
from agentguard.episodes import FailureEpisodes
from agentguard.events import Event, LLMCallFinished
from agentguard_trace.pricing import PriceTable, cost_fields, normalize_model

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


def count(value: object) -> int:
    """A usage count as an int >= 0; missing, null or mistyped counts read as 0."""
    return value if type(value) is int and value >= 0 else 0


def word(value: object) -> str | None:
    """A short enum-like usage string (``fast``, ``standard``), or ``None`` (also for ``""``)."""
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


@dataclass(slots=True, kw_only=True)
class Usage:
    """One model request's usage in the Messages API's terms.

    Not frozen: a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``,
    which costs more than the rest of a hook's work (``bench/bench_claude_agent.py``).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    thinking_tokens: int = 0
    web_search_requests: int = 0
    web_fetch_requests: int = 0
    speed: str | None = None
    service_tier: str | None = None
    inference_geo: str | None = None

    @classmethod
    def from_api(cls, usage: Mapping[str, object]) -> Usage:
        """Read a Messages API ``usage`` object (a decoded dict).

        Without the 5m/1h split, ``cache_creation_input_tokens`` are 5-minute writes, the
        API's default lifetime.
        """
        split = usage.get("cache_creation")
        if isinstance(split, Mapping):
            write_5m = count(split.get("ephemeral_5m_input_tokens"))
            write_1h = count(split.get("ephemeral_1h_input_tokens"))
        else:
            write_5m, write_1h = count(usage.get("cache_creation_input_tokens")), 0
        details = usage.get("output_tokens_details")
        server = usage.get("server_tool_use")
        output = count(usage.get("output_tokens"))
        return cls(
            input_tokens=count(usage.get("input_tokens")),
            output_tokens=output,
            cache_read_tokens=count(usage.get("cache_read_input_tokens")),
            cache_write_5m_tokens=write_5m,
            cache_write_1h_tokens=write_1h,
            thinking_tokens=(
                min(count(details.get("thinking_tokens")), output)
                if isinstance(details, Mapping)
                else 0
            ),
            web_search_requests=(
                count(server.get("web_search_requests")) if isinstance(server, Mapping) else 0
            ),
            web_fetch_requests=(
                count(server.get("web_fetch_requests")) if isinstance(server, Mapping) else 0
            ),
            speed=word(usage.get("speed")),
            service_tier=word(usage.get("service_tier")),
            inference_geo=word(usage.get("inference_geo")),
        )

    def counts(self) -> tuple[int, int, int, int, int, int, int]:
        """The seven counts :meth:`PriceTable.price_parts` takes."""
        return (
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_5m_tokens,
            self.cache_write_1h_tokens,
            self.web_search_requests,
            self.web_fetch_requests,
        )


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
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_5m_tokens=usage.cache_write_5m_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        thinking_tokens=usage.thinking_tokens,
        web_search_requests=usage.web_search_requests,
        web_fetch_requests=usage.web_fetch_requests,
        speed=usage.speed,
        service_tier=usage.service_tier,
        inference_geo=usage.inference_geo,
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
