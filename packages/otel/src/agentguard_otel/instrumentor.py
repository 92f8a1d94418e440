"""Zero-code setup: ``opentelemetry-instrument python app.py`` measures every anthropic client.

OpenTelemetry's auto-instrumentation runs every installed ``opentelemetry_instrumentor`` entry
point before the application starts. With the ``instrument`` extra installed
(``pip install 'agentguard-otel[instrument]'``), this one turns on
:func:`agentguard_trace.instrument_all` (every anthropic client of the process, those a
framework makes inside included) and attaches an :class:`~agentguard_otel.OTelSubscriber` to
the default bus with the providers the auto-instrumentation configured (console, OTLP, ...)::

    opentelemetry-instrument --traces_exporter console --metrics_exporter console python app.py

``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=agentguard`` turns it off.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]  # the package ships no stubs for this name
    BaseInstrumentor,
)

from agentguard.bus import Subscription
from agentguard_otel.subscriber import OTelSubscriber

__all__ = ["AgentGuardInstrumentor"]


class AgentGuardInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # BaseInstrumentor is untyped
    """``instrument_all()`` plus an ``OTelSubscriber`` on the default bus, as an instrumentor.

    ``instrument(tracer_provider=..., meter_provider=...)`` takes the providers (the global
    ones by default); ``uninstrument()`` undoes both.
    """

    _subscription: Subscription | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """The anthropic SDK versions this measures."""
        return ("anthropic >= 1.0",)

    def _instrument(self, **kwargs: Any) -> None:
        from agentguard_trace import instrument_all

        subscriber = OTelSubscriber(kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
        self._subscription = subscriber.attach()
        instrument_all()

    def _uninstrument(self, **kwargs: Any) -> None:
        from agentguard_trace import uninstrument_all

        uninstrument_all()
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
