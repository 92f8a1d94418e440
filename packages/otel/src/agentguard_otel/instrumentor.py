"""Zero-code setup: ``opentelemetry-instrument python app.py`` measures every anthropic client.

With the ``instrument`` extra installed (``pip install 'agentguard-otel[instrument]'``),
OpenTelemetry's auto-instrumentation finds :class:`AgentGuardInstrumentor` through the
``opentelemetry_instrumentor`` entry point ``agentguard`` and runs it before the app starts::

    opentelemetry-instrument --traces_exporter console --metrics_exporter console python app.py

In code, the same in one line: ``AgentGuardInstrumentor().instrument()`` (after the providers
are set up). ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=agentguard`` turns it off.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]  # the package ships no stubs for this name
    BaseInstrumentor,
)

from agentguard_otel.subscriber import OTelSubscriber

__all__ = ["AgentGuardInstrumentor"]

_INSTRUMENTS: Final = ("anthropic >= 1.0",)
"""What this instruments; the package's ``instruments`` extra says the same to the loader."""


class AgentGuardInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # BaseInstrumentor is untyped
    """``instrument_all()`` plus an ``OTelSubscriber`` on the default bus, as an instrumentor.

    ``instrument(tracer_provider=..., meter_provider=...)`` takes the providers (the global
    ones by default) and measures every anthropic client of the process, made before or
    after; ``uninstrument()`` undoes both (the clients as they were, the subscriber closed).
    A second ``instrument()`` without an ``uninstrument()`` between changes nothing.
    """

    _subscriber: OTelSubscriber | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """The anthropic SDK versions this measures."""
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        from agentguard_trace import instrument_all  # the extra: fails before anything is on

        subscriber = OTelSubscriber(kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
        subscriber.attach()
        self._subscriber = subscriber
        instrument_all()

    def _uninstrument(self, **kwargs: Any) -> None:
        from agentguard_trace import uninstrument_all

        uninstrument_all()
        if self._subscriber is not None:
            self._subscriber.close()
            self._subscriber = None
