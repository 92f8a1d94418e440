"""A session's list cost for the fake Messages API, priced by the tracer's ``PriceTable``."""

from __future__ import annotations

from agentguard_fake import ModelRequest
from agentguard_trace.pricing import CallUsage, PriceTable

PRICES = PriceTable()
"""The prices the Claude Agent SDK package's tests and the fake's sessions agree on."""


def list_price(model: str, request: ModelRequest) -> float | None:
    """One model request of a Managed Agents session at list rates (``ListPrice``)."""
    usage = CallUsage(
        input_tokens=request.input_tokens,
        output_tokens=request.output_tokens,
        cache_read_tokens=request.cache_read_input_tokens,
        cache_write_5m_tokens=request.cache_creation_input_tokens,
        speed=request.speed,
    )
    cost = PRICES.price(model, usage)
    return None if cost is None else cost.total_usd
