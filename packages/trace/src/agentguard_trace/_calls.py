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

if TYPE_CHECKING:
    from agentguard_trace._ledger import RunLedger
    from agentguard_trace.pricing import PriceTable

_FINISHING = threading.Lock()
"""Makes each call's end happen once, when a reader and the garbage collector both report it."""

_UNPRICED: tuple[None, ...] = (None,) * 7
"""The cost parts of a call whose model has no price."""

CURRENT_CALL: contextvars.ContextVar[LLMCall | None] = contextvars.ContextVar(
    "agentguard_llm_call", default=None
)
"""The call whose HTTP attempts the middleware is seeing, set by the resource wrappers."""


def _int(value: object) -> int:
    """A usage count as an int: missing, null or foreign values count as 0."""
    return value if type(value) is int and value > 0 else 0


class LLMCall:
    """What is known of one ``messages`` call, from its start to its one event.

    The resource wrapper starts it, the middleware adds each HTTP attempt, and whichever sees
    the end (the wrapper for a returned message or an error, the body observer for a stream)
    calls :meth:`finish`, which publishes exactly once even when several report an end.
    """

    __slots__ = (
        "_bus",
        "_clock",
        "_done",
        "_ledger",
        "_prices",
        "_run",
        "attempts",
        "cache_read_tokens",
        "cache_write_1h_tokens",
        "cache_write_5m_tokens",
        "first_token_s",
        "input_tokens",
        "model",
        "output_tokens",
        "request_id",
        "started_s",
        "started_unix_s",
        "stop_reason",
        "streamed",
        "watched",
    )

    def __init__(
        self,
        *,
        model: str,
        streamed: bool,
        bus: Bus,
        prices: PriceTable,
        ledger: RunLedger | None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.model = model
        self.streamed = streamed
        self._bus = bus
        self._prices = prices
        self._ledger = ledger
        self._clock = clock
        self._done = False
        self._run = current_run()
        self.started_unix_s = time.time()
        self.started_s = clock()
        self.attempts = 0
        self.watched = False
        self.request_id: str | None = None
        self.first_token_s: float | None = None
        self.stop_reason: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_read_tokens = 0
        self.cache_write_5m_tokens = 0
        self.cache_write_1h_tokens = 0

    def read_usage(self, usage: object, *, running: bool = False) -> None:
        """Take the token counts of an Anthropic ``Usage`` (a model or a decoded dict).

        Missing or null fields (older SDKs, proxies) read as 0. When the 5m/1h split of the
        cache writes is absent, all of ``cache_creation_input_tokens`` counts as 5-minute
        writes, the API's default lifetime. With ``running`` (a stream's ``message_delta``,
        whose usage holds running totals) only the fields present replace what was known.
        """
        if isinstance(usage, dict):
            uncached = usage.get("input_tokens")
            output = usage.get("output_tokens")
            read = usage.get("cache_read_input_tokens")
            created = usage.get("cache_creation_input_tokens")
            split = usage.get("cache_creation")
        else:
            uncached = getattr(usage, "input_tokens", None)
            output = getattr(usage, "output_tokens", None)
            read = getattr(usage, "cache_read_input_tokens", None)
            created = getattr(usage, "cache_creation_input_tokens", None)
            split = getattr(usage, "cache_creation", None)
        if uncached is not None or not running:
            self.input_tokens = _int(uncached)
        if output is not None or not running:
            self.output_tokens = _int(output)
        if read is not None or not running:
            self.cache_read_tokens = _int(read)
        if split is not None:
            if isinstance(split, dict):
                five, hour = (
                    split.get("ephemeral_5m_input_tokens"),
                    split.get("ephemeral_1h_input_tokens"),
                )
            else:
                five = getattr(split, "ephemeral_5m_input_tokens", None)
                hour = getattr(split, "ephemeral_1h_input_tokens", None)
            self.cache_write_5m_tokens, self.cache_write_1h_tokens = _int(five), _int(hour)
        elif not running:
            self.cache_write_5m_tokens, self.cache_write_1h_tokens = _int(created), 0
        elif created is not None:
            # A running total without the split keeps the split already known.
            self.cache_write_5m_tokens = max(_int(created) - self.cache_write_1h_tokens, 0)

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
        parts = self._prices.parts(
            self.model,
            (
                self.input_tokens,
                self.output_tokens,
                self.cache_read_tokens,
                self.cache_write_5m_tokens,
                self.cache_write_1h_tokens,
            ),
        )
        cost: tuple[float | None, ...] = _UNPRICED if parts is None else parts
        event = LLMCallFinished(
            at_unix_s=self.started_unix_s + (now - self.started_s),
            run_id=None if run is None else run.run_id,
            agent=None if run is None else run.agent,
            session_id=None if run is None else run.session_id,
            model=self.model,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_5m_tokens=self.cache_write_5m_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens,
            input_cost_usd=cost[0],
            output_cost_usd=cost[1],
            cache_read_cost_usd=cost[2],
            cache_write_5m_cost_usd=cost[3],
            cache_write_1h_cost_usd=cost[4],
            cost_usd=cost[5],
            cost_without_cache_usd=cost[6],
            duration_s=now - self.started_s,
            time_to_first_token_s=(
                None if self.first_token_s is None else self.first_token_s - self.started_s
            ),
            streamed=self.streamed,
            ok=ok,
            error_kind=error_kind,
            stop_reason=self.stop_reason,
            request_id=self.request_id,
            retries=max(self.attempts - 1, 0),
        )
        self._bus.publish(event)
        if self._ledger is not None:
            self._ledger.spent(event.cost_usd)
        return event
