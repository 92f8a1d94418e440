"""One LLM call while it runs: what is known of it, and the event it becomes at its end."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from agentguard import Bus
from agentguard.context import current_run
from agentguard.events import LLMCallFinished
from agentguard_trace.pricing import cost_fields, normalize_model
from agentguard_trace.usage import Usage

if TYPE_CHECKING:
    from agentguard_trace._ledger import RunLedger
    from agentguard_trace.pricing import PriceTable

_FINISHING = threading.Lock()
"""Makes each call's end happen once, when a reader and the garbage collector both report it."""

CURRENT_CALL: contextvars.ContextVar[LLMCall | None] = contextvars.ContextVar(
    "agentguard_llm_call", default=None
)
"""The call being made on this task or thread, set by the instrumented client's ``request``."""


def _get(message: object, name: str) -> object:
    """A field of a message: a decoded dict (a stream's or a batch result's) or the SDK's model."""
    if type(message) is dict:
        return message.get(name)
    return getattr(message, name, None)


class LLMCall:
    """What is known of one billed call, from its start to its one event.

    The instrumented client's ``request`` starts it, its retry sleep counts the attempts, and
    whichever sees the end (``request`` for a returned message or an error, the body watcher
    for a stream, the batch-results reader for a result) calls :meth:`finish`, which
    publishes exactly once even when several report an end.
    """

    __slots__ = (
        "_bus",
        "_clock",
        "_done",
        "_ledger",
        "_prices",
        "_run",
        "batch_id",
        "custom_id",
        "first_token_s",
        "model",
        "provider",
        "request_id",
        "request_model",
        "retries",
        "started_s",
        "started_unix_s",
        "stop_reason",
        "streamed",
        "usage",
        "watched",
    )

    def __init__(
        self,
        *,
        model: str | None,
        streamed: bool,
        bus: Bus,
        prices: PriceTable,
        ledger: RunLedger | None,
        provider: str = "anthropic",
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.request_model = model
        self.model = model or ""
        self.provider = provider
        self.streamed = streamed
        self._bus = bus
        self._prices = prices
        self._ledger = ledger
        self._clock = clock
        self._done = False
        self._run = current_run()
        self.started_unix_s = time.time()
        self.started_s = clock()
        self.retries = 0
        self.watched = False
        self.request_id: str | None = None
        self.first_token_s: float | None = None
        self.stop_reason: str | None = None
        self.usage = Usage()
        self.batch_id: str | None = None
        self.custom_id: str | None = None

    def answered(self, model: object) -> None:
        """The API named the model that answered (a message's or a stream's ``model``)."""
        if isinstance(model, str) and model:
            self.model = model

    def read_message(self, message: object) -> None:
        """Take model, usage, stop reason and request id of a returned message (any shape)."""
        self.answered(_get(message, "model"))
        usage = _get(message, "usage")
        if usage is not None:
            self.usage.read(usage)
        stop_reason = _get(message, "stop_reason")
        if isinstance(stop_reason, str):
            self.stop_reason = stop_reason
        request_id = getattr(message, "_request_id", None)
        if isinstance(request_id, str):
            self.request_id = request_id

    def first_token(self) -> None:
        """Note the time of the first content of a stream (the first one noted counts)."""
        if self.first_token_s is None:
            self.first_token_s = self._clock()

    def finish(self, *, ok: bool, error_kind: str | None = None) -> LLMCallFinished | None:
        """Publish the call's one event; later calls do nothing and return ``None``."""
        with _FINISHING:
            if self._done:
                return None
            self._done = True
        now = self._clock()
        run = self._run
        usage = self.usage
        counts = usage.counts()
        provider = self.provider
        price = self._prices.price_parts
        cost = None
        if self.request_model is not None and provider == "bedrock":
            # A Bedrock inference profile (``global.``, ``us.``) decides the price.
            cost = price(
                self.request_model,
                counts,
                speed=usage.speed,
                service_tier=usage.service_tier,
                provider=provider,
            )
        if cost is None and self.model:
            cost = price(
                self.model,
                counts,
                speed=usage.speed,
                service_tier=usage.service_tier,
                provider=provider,
            )
        model = normalize_model(self.model, provider) if self.model else ""
        event = LLMCallFinished(
            at_unix_s=self.started_unix_s + (now - self.started_s),
            run_id=None if run is None else run.run_id,
            agent=None if run is None else run.agent,
            session_id=None if run is None else run.session_id,
            provider=provider,
            model=model,
            request_model=self.request_model,
            **usage.event_fields(),
            batch_id=self.batch_id,
            custom_id=self.custom_id,
            # A failed call of a model we cannot name (a batch result) cost nothing.
            **cost_fields(cost, free=cost is None and not ok and not any(counts)),
            duration_s=now - self.started_s,
            time_to_first_token_s=(
                None if self.first_token_s is None else self.first_token_s - self.started_s
            ),
            streamed=self.streamed,
            ok=ok,
            error_kind=error_kind,
            stop_reason=self.stop_reason,
            request_id=self.request_id,
            retries=self.retries,
        )
        self._bus.publish(event)
        if self._ledger is not None:
            self._ledger.spent(event.cost_usd)
        return event
