"""agentguard-otel: agentguard's events as OpenTelemetry GenAI spans and metrics.

Runs become ``invoke_agent`` spans (parents of every span started inside them, the anthropic
SDK's included), LLM calls ``chat`` spans, tool calls ``execute_tool`` spans, guard events
span events, and LLM calls feed the ``gen_ai.client.*`` histograms::

    from agentguard_otel import OTelSubscriber

    OTelSubscriber(tracer_provider, meter_provider).attach()  # the default bus
"""

from __future__ import annotations

from agentguard_otel.subscriber import OTelSubscriber

__all__ = ["OTelSubscriber"]
