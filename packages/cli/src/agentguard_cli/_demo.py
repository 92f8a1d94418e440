"""``agentguard demo``: the fake API, every module on one bus, a live table, then the summary.

The demo owns its bus and its Prometheus registry, so it never mixes with the caller's
metrics, and closes every server it starts, also when interrupted.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anthropic
from prometheus_client import CollectorRegistry
from rich.live import Live
from rich.table import Table

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
from agentguard_loopguard import LoopGuard, ToolLoopDetected
from agentguard_prometheus import PrometheusSubscriber, start_http_server
from agentguard_receiver import Receiver, create_app
from agentguard_trace import SessionRecorder, instrument, print_summary
from agentguard_trace.fake import FakeAnthropicServer

if TYPE_CHECKING:
    from rich.console import Console

RESET_TIMEOUT_S = 0.3
"""How long the demo's breaker stays open before its probe call."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    """What ``agentguard demo`` was asked for."""

    duration_s: float
    """Wall time the runs are spread over."""
    port: int
    """The /metrics port; 0 picks a free one."""
    seed: int
    """Fixes the fake API's texts and ids and the agent's script."""
    color: bool
    """Colored output."""
    hold_s: float = 0.0
    """Keep the servers up this long after the summary (to scrape or browse them)."""


class Tally:
    """Counts what the live table and the recap show, from the demo's bus. Thread-safe."""

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


def run_demo(options: DemoOptions, console: Console) -> int:
    """Run the demo; the exit status (0, or 130 when interrupted during the runs).

    Raises:
        OSError: The /metrics port cannot be bound (the caller reports it).
    """
    bus = Bus(name="agentguard-demo")
    registry = CollectorRegistry()
    tally = Tally()
    interrupted = False
    with ExitStack() as stack:
        metrics = start_http_server(options.port, registry=registry)
        stack.callback(metrics.close)
        subscriber = PrometheusSubscriber(registry)
        subscriber.attach(bus)
        stack.callback(subscriber.close)
        tracker = PromptCacheTracker()
        tracker.attach(bus)
        stack.callback(tracker.close)
        stack.enter_context(bus.subscribe(tally, name="agentguard_cli.tally"))
        recorder = stack.enter_context(SessionRecorder(bus))
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        receiver = stack.enter_context(Receiver(create_app(secrets=[secret]), port=0))
        server = stack.enter_context(FakeAnthropicServer(seed=options.seed))
        client = instrument(
            anthropic.Anthropic(base_url=server.url, api_key="demo", max_retries=2), bus=bus
        )
        stack.callback(client.close)
        breaker = CircuitBreaker(
            "anthropic",
            fail_max=3,
            reset_timeout_s=RESET_TIMEOUT_S,
            bus=bus,
        )
        agent = SupportAgent(client, server, breaker, LoopGuard(bus=bus), bus)
        plans = plan_runs(options.seed, support_runs=max(4, int(options.duration_s)))

        console.print(f"[bold]agentguard demo[/] (seed {options.seed}, {len(plans)} runs)")
        console.print(f"  metrics:       {metrics.url}")
        console.print(f"  alerts:        {receiver.url}/api/v1/alerts")
        console.print(f"  fake API:      {server.url}")
        console.print("  alert rules:   arrive with agentguard-alerts")
        _flush(console)

        def table() -> Table:
            return _live_table(tally, tracker, len(plans))

        try:
            with Live(table(), console=console, refresh_per_second=4) as live:
                _drive(agent, plans, options.duration_s, lambda: live.update(table()))
        except KeyboardInterrupt:
            interrupted = True
            console.print("[yellow]interrupted: stopping the runs[/]")
        console.print()
        print_summary(recorder, file=console.file)
        for line in recap_lines(tally, tracker):
            console.print(line, soft_wrap=True, markup=False, highlight=False)
        _flush(console)
        if options.hold_s > 0 and not interrupted:
            console.print(f"servers stay up for {options.hold_s:g} s (Ctrl-C to stop)")
            _flush(console)
            with suppress(KeyboardInterrupt):
                time.sleep(options.hold_s)
    return 130 if interrupted else 0


def _drive(
    agent: SupportAgent, plans: list[RunPlan], duration_s: float, refresh: Callable[[], None]
) -> None:
    start = time.monotonic()
    slot_s = duration_s / len(plans)
    after_burst = False
    for i, plan in enumerate(plans):
        due = start + i * slot_s
        if after_burst:  # the probe must come after the breaker's reset timeout
            due = max(due, time.monotonic() + RESET_TIMEOUT_S + 0.05)
        time.sleep(max(0.0, due - time.monotonic()))
        # A failed run is recorded by its traced scope; the session goes on.
        with suppress(CircuitOpenError, ToolLoopDetected, anthropic.APIError):
            agent.run(plan)
        after_burst = plan.kind == "burst"
        refresh()
    time.sleep(max(0.0, start + duration_s - time.monotonic()))


def _live_table(tally: Tally, tracker: PromptCacheTracker, planned: int) -> Table:
    cache = tracker.stats(model=MODEL)
    table = Table(title="agentguard demo", show_header=True)
    table.add_column("runs")
    table.add_column("LLM calls", justify="right")
    table.add_column("cost", justify="right")
    table.add_column("cache hit ratio", justify="right")
    table.add_column("breaker")
    table.add_column("loops detected", justify="right")
    table.add_row(
        f"{tally.runs_ok + tally.runs_failed}/{planned}, {tally.runs_failed} failed",
        str(tally.llm_calls),
        f"${tally.cost_usd:.4f}",
        _ratio(cache.hit_ratio),
        tally.breaker_state,
        str(len(tally.loops)),
    )
    return table


def recap_lines(tally: Tally, tracker: PromptCacheTracker) -> list[str]:
    """The recap printed after the session summary: counts, transitions, crossings, money."""
    cache = tracker.stats(model=MODEL)
    lines = ["", "Recap"]
    lines.append(
        f"  runs: {tally.runs_ok} ok, {tally.runs_failed} failed; LLM calls: {tally.llm_calls}"
    )
    lines.append("  events: " + ", ".join(f"{k} {n}" for k, n in sorted(tally.kinds.items())))
    lines += [f"  breaker: {t}" for t in tally.transitions] or ["  breaker: no transitions"]
    lines += [f"  loop: {x}" for x in tally.loops] or ["  loop: none detected"]
    lines += [f"  budget crossed: {b}" for b in tally.budgets] or ["  budget crossed: none"]
    lines.append(f"  cost: ${tally.cost_usd:.4f}")
    lines.append(
        f"  prompt cache: hit ratio {_ratio(cache.hit_ratio)}, saved ${cache.saved_usd:.4f}"
    )
    lines.append("  alert rules: arrive with agentguard-alerts")
    return lines


def _ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


def _flush(console: Console) -> None:
    console.file.flush()
