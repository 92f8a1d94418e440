"""One LLM call while it runs: what is known of it, and the event it becomes at its end."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from agentguard import Bus
from agentguard.context import current_run
from agentguard.episodes import FailureEpisodes
from agentguard.events import LLMCallFinished
from agentguard.limits import limit_for
from agentguard_trace.pricing import cost_fields, normalize_model

if TYPE_CHECKING:
    from agentguard_trace._ledger import RunLedger
    from agentguard_trace.pricing import PriceTable

_FINISHING = threading.Lock()
"""Makes each call's end happen once, when a reader and the garbage collector both report it."""

CURRENT_CALL: contextvars.ContextVar[LLMCall | None] = contextvars.ContextVar(
    "agentguard_llm_call", default=None
)
"""The call being made on this task or thread, set by the instrumented client's ``request``."""

_MAX_COUNT: Final = int(limit_for("input_tokens").high)  # type: ignore[union-attr]  # tokens have a range
"""The largest token or request count one call may report (:mod:`agentguard.limits`)."""

_logger = logging.getLogger("agentguard.trace")
_BAD_USAGE: Final = FailureEpisodes(_logger)


def _count(value: object, field: str) -> int:
    """A usage count in range: missing or null is 0; anything else wrong is 0, logged.

    The range is the tokens' of :mod:`agentguard.limits`: a count past it is a proxy's or a
    parser's garbage, refused here, at the producer's edge, before it is priced and summed.
    """
    if type(value) is int and 0 <= value <= _MAX_COUNT:
        return value
    if value is not None:
        _BAD_USAGE.failed(
            "agentguard.trace.usage",
            f"usage field {field!r} is {type(value).__name__} {value!r:.40}, not an int from "
            f"0 to {_MAX_COUNT:,}; counted as 0 (a proxy or an old SDK?)",
        )
    return 0


def _word(value: object) -> str | None:
    """A short enum-like usage string (``fast``, ``priority``, a region), or ``None``."""
    if isinstance(value, str) and 0 < len(value) <= 64:
        return value
    return None


def _get(usage: object, name: str) -> object:
    """A field of a usage or message: a decoded dict (a stream's) or the SDK's model.

    ``type() is dict``, not ``isinstance(..., Mapping)``: this runs some twenty times per call
    (P4), and an ABC check costs ten times a type check; JSON decodes to plain dicts.
    """
    if type(usage) is dict:
        return usage.get(name)
    return getattr(usage, name, None)


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
        "cache_read_tokens",
        "cache_write_1h_tokens",
        "cache_write_5m_tokens",
        "custom_id",
        "first_token_s",
        "inference_geo",
        "input_tokens",
        "model",
        "output_tokens",
        "provider",
        "request_id",
        "request_model",
        "retries",
        "service_tier",
        "speed",
        "started_s",
        "started_unix_s",
        "stop_reason",
        "streamed",
        "thinking_tokens",
        "watched",
        "web_fetch_requests",
        "web_search_requests",
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
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_read_tokens = 0
        self.cache_write_5m_tokens = 0
        self.cache_write_1h_tokens = 0
        self.thinking_tokens = 0
        self.web_search_requests = 0
        self.web_fetch_requests = 0
        self.speed: str | None = None
        self.service_tier: str | None = None
        self.inference_geo: str | None = None
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
            self.read_usage(usage)
        stop_reason = _get(message, "stop_reason")
        if isinstance(stop_reason, str):
            self.stop_reason = stop_reason
        request_id = getattr(message, "_request_id", None)
        if isinstance(request_id, str):
            self.request_id = request_id

    def read_usage(self, usage: object, *, running: bool = False) -> None:
        """Take what an Anthropic ``Usage`` reports (a model, a decoded dict, any SDK version).

        Missing or null fields (older SDKs, proxies) read as 0; negative or mistyped ones too,
        logged once per episode. When the 5m/1h split of the cache writes is absent, all of
        ``cache_creation_input_tokens`` counts as 5-minute writes, the API's default lifetime.
        With ``running`` (a stream's ``message_delta``, whose usage holds running totals) only
        the fields present replace what was known.
        """
        uncached = _get(usage, "input_tokens")
        output = _get(usage, "output_tokens")
        read = _get(usage, "cache_read_input_tokens")
        created = _get(usage, "cache_creation_input_tokens")
        split = _get(usage, "cache_creation")
        if uncached is not None or not running:
            self.input_tokens = _count(uncached, "input_tokens")
        if output is not None or not running:
            self.output_tokens = _count(output, "output_tokens")
        if read is not None or not running:
            self.cache_read_tokens = _count(read, "cache_read_input_tokens")
        if split is not None:
            self.cache_write_5m_tokens = _count(
                _get(split, "ephemeral_5m_input_tokens"), "ephemeral_5m_input_tokens"
            )
            self.cache_write_1h_tokens = _count(
                _get(split, "ephemeral_1h_input_tokens"), "ephemeral_1h_input_tokens"
            )
        elif not running:
            self.cache_write_5m_tokens = _count(created, "cache_creation_input_tokens")
            self.cache_write_1h_tokens = 0
        elif created is not None:
            # A running total without the split keeps the split already known.
            self.cache_write_5m_tokens = max(
                _count(created, "cache_creation_input_tokens") - self.cache_write_1h_tokens, 0
            )
        details = _get(usage, "output_tokens_details")
        if details is not None:
            thinking = _count(_get(details, "thinking_tokens"), "thinking_tokens")
            self.thinking_tokens = min(thinking, self.output_tokens) if self.output_tokens else 0
        server = _get(usage, "server_tool_use")
        if server is not None:
            self.web_search_requests = _count(
                _get(server, "web_search_requests"), "web_search_requests"
            )
            self.web_fetch_requests = _count(
                _get(server, "web_fetch_requests"), "web_fetch_requests"
            )
        for name in ("speed", "service_tier", "inference_geo"):
            value = _word(_get(usage, name))
            if value is not None:
                setattr(self, name, value)

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
        counts = (
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_5m_tokens,
            self.cache_write_1h_tokens,
            self.web_search_requests,
            self.web_fetch_requests,
        )
        provider = self.provider
        price = self._prices.price_parts
        cost = None
        if self.request_model is not None and provider == "bedrock":
            # A Bedrock inference profile (``global.``, ``us.``) decides the price.
            cost = price(
                self.request_model,
                counts,
                speed=self.speed,
                service_tier=self.service_tier,
                provider=provider,
            )
        if cost is None and self.model:
            cost = price(
                self.model,
                counts,
                speed=self.speed,
                service_tier=self.service_tier,
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
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_5m_tokens=self.cache_write_5m_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens,
            thinking_tokens=self.thinking_tokens,
            web_search_requests=self.web_search_requests,
            web_fetch_requests=self.web_fetch_requests,
            speed=self.speed,
            service_tier=self.service_tier,
            inference_geo=self.inference_geo,
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
