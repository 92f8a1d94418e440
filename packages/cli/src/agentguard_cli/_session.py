"""One agent session of the demo: the fake API, the instrumented SDK, the guards, the script.

The embedded demo runs one session in its own process; ``--redis URL --workers N`` runs one in
each worker process. A session publishes every measurement on the bus it is given and counts
what the recap shows in a :class:`Tally`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack, suppress

import anthropic

from agentguard import Bus
from agentguard.events import (
    BreakerStateChanged,
    BudgetExceeded,
    Event,
    LLMCallFinished,
    LoopDetected,
    RunFinished,
)
from agentguard_breaker import CircuitBreaker, CircuitOpenError
from agentguard_cache import PromptCacheTracker
from agentguard_cli._agent import MODEL, RunPlan, SupportAgent, plan_runs
from agentguard_fake import FakeAnthropicServer
from agentguard_loopguard import LoopGuard, ToolLoopDetected
from agentguard_trace import SessionRecorder, instrument

__all__ = ["LIVE_RUNS", "RESET_TIMEOUT_S", "Session", "Tally"]

RESET_TIMEOUT_S = 0.3
"""How long the demo's breaker stays open before its probe call."""


class Tally:
    """Counts what the live table and the recap show, from a session's bus. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.kinds: Counter[str] = Counter()
        self.runs_ok = 0
        self.runs_failed = 0
        self.llm_calls = 0
        self.cost_usd = 0.0
        self.breaker_state = "closed"
        self.transitions: list[str] = []
        self.loops: list[str] = []
        self.budgets: list[str] = []

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.kinds[event.kind] += 1
            if isinstance(event, LLMCallFinished):
                self.llm_calls += 1
                self.cost_usd += event.cost_usd or 0.0
            elif isinstance(event, RunFinished):
                if event.ok:
                    self.runs_ok += 1
                else:
                    self.runs_failed += 1
            elif isinstance(event, BreakerStateChanged):
                self.breaker_state = event.new_state
                self.transitions.append(
                    f"{event.breaker}: {event.old_state} -> {event.new_state} "
                    f"(failures {event.failure_count})"
                )
            elif isinstance(event, LoopDetected):
                self.loops.append(
                    f"{event.tool}: {event.pattern} x{event.repeats} -> {event.action}"
                )
            elif isinstance(event, BudgetExceeded):
                self.budgets.append(
                    f"{event.scope}: ${event.spent_usd:.4f} spent of ${event.limit_usd:.4f}"
                )


LIVE_RUNS = 3
"""Runs against the real API with ``--live``: a few cents, not a session's worth."""


class Session:
    """The fake Messages API and a support agent on the real anthropic SDK, on ``bus``.

    With ``live``, no fake API: the client is ``anthropic.Anthropic()`` as configured by the
    environment (``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``), the model answers as it will,
    and only :data:`LIVE_RUNS` ordinary runs are made (the burst, the loop and the budget
    crossing are scripted on the fake API and cannot be on the real one).

    A context manager: every server and subscriber it starts is closed on exit.
    """

    def __init__(
        self, bus: Bus, seed: int, duration_s: float, *, live: bool = False, model: str = MODEL
    ) -> None:
        self.bus = bus
        self.seed = seed
        self.duration_s = duration_s
        self.live = live
        self.model = model
        self.tally = Tally()
        plans = plan_runs(seed, support_runs=max(4, int(duration_s)))
        self.plans = [p for p in plans if p.kind == "support"][:LIVE_RUNS] if live else plans
        self.server: FakeAnthropicServer | None = None
        self._stack = ExitStack()

    def __enter__(self) -> Session:
        stack = self._stack
        self.tracker = PromptCacheTracker()
        self.tracker.attach(self.bus)
        stack.callback(self.tracker.close)
        stack.enter_context(self.bus.subscribe(self.tally, name="agentguard_cli.tally"))
        self.recorder = stack.enter_context(SessionRecorder(self.bus))
        if self.live:
            raw = anthropic.Anthropic(max_retries=2)
        else:
            self.server = stack.enter_context(FakeAnthropicServer(seed=self.seed))
            raw = anthropic.Anthropic(base_url=self.server.url, api_key="demo", max_retries=2)
        client = instrument(raw, bus=self.bus)
        stack.callback(client.close)
        breaker = CircuitBreaker(
            "anthropic", fail_max=3, reset_timeout_s=RESET_TIMEOUT_S, bus=self.bus
        )
        guard = LoopGuard(bus=self.bus)
        self.agent = SupportAgent(client, self.server, breaker, guard, self.bus, model=self.model)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def cache_hit_ratio(self) -> float | None:
        """The session's prompt-cache hit ratio so far."""
        return self.tracker.stats(model=self.model).hit_ratio

    def cache_saved_usd(self) -> float:
        """Dollars prompt caching saved so far, net: the session summary's figure."""
        return self.recorder.summary().cost.cache_saved_usd or 0.0

    def drive(self, after_run: Callable[[RunPlan], None]) -> None:
        """Run every plan, spread over the session's duration; ``after_run`` after each."""
        plans = self.plans
        start = time.monotonic()
        slot_s = self.duration_s / len(plans)
        after_burst = False
        for i, plan in enumerate(plans):
            due = start + i * slot_s
            if after_burst:  # the probe must come after the breaker's reset timeout
                due = max(due, time.monotonic() + RESET_TIMEOUT_S + 0.05)
            time.sleep(max(0.0, due - time.monotonic()))
            # A failed run is recorded by its traced scope; the session goes on.
            with suppress(CircuitOpenError, ToolLoopDetected, anthropic.APIError):
                self.agent.run(plan)
            after_burst = plan.kind == "burst"
            after_run(plan)
        time.sleep(max(0.0, start + self.duration_s - time.monotonic()))
