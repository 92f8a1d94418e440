"""``agentguard demo``: every module on one bus, the metrics service, alerts, then the summary.

The embedded default, all in this process: a :class:`~agentguard_cli._session.Session` (the
fake API and a support agent on the real SDK) publishes on the demo's own bus; an
``Aggregator`` turns the events into a ``MemoryStore`` that the metrics service serves on
``--port`` (the dashboard at ``/``, ``/metrics``, the query API); alert rules are evaluated
after every run over the same store and their signed webhooks land in an in-process receiver.
Every server is closed at the end, also when interrupted. ``--redis URL --workers N`` is
:mod:`agentguard_cli._workers`.
"""

from __future__ import annotations

import base64
import secrets
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx2
from rich.live import Live
from rich.table import Table

from agentguard import Bus
from agentguard_alerts import Evaluator, Rule, WebhookSender, builtin
from agentguard_cli._agent import MODEL
from agentguard_cli._ports import check_port
from agentguard_cli._session import Session, Tally
from agentguard_metrics import Aggregator, MemoryStore, Store
from agentguard_receiver import Receiver
from agentguard_receiver import create_app as receiver_app
from agentguard_service import MetricsService, create_app
from agentguard_trace import print_summary

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "Alerting",
    "DemoOptions",
    "demo_rules",
    "finish",
    "fit_columns",
    "flush",
    "live_table",
    "recap_lines",
    "run_demo",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    """What ``agentguard demo`` was asked for."""

    duration_s: float
    """Wall time the runs are spread over."""
    port: int
    """The metrics service's port; 0 picks a free one."""
    seed: int
    """Fixes the fake API's texts and ids and the agent's script."""
    color: bool
    """Colored output."""
    hold_s: float = 0.0
    """Keep the servers up this long after the summary (to scrape or browse them)."""
    redis_url: str | None = None
    """With ``workers``: the Redis the worker processes aggregate into."""
    workers: int = 0
    """Worker processes (with ``redis_url``); 0 runs the embedded default."""
    live: bool = False
    """Talk to the real Messages API (``ANTHROPIC_API_KEY``) instead of the fake one."""
    model: str | None = None
    """The model the agent asks; ``None``: the demo's (``claude-sonnet-4-6``)."""


def demo_rules() -> list[Rule]:
    """The rules the demo evaluates: what its script makes happen, firing at once."""
    return [
        builtin.breaker_open(for_s=0),
        builtin.loop_detected(for_s=0),
        builtin.budget_exceeded(for_s=0),
        builtin.error_rate(threshold=0.25, for_s=0, window_s=60),
    ]


class Alerting:
    """The demo's alerts: a receiver in process, rules over ``store``, signed webhooks to it."""

    def __init__(
        self,
        stack: ExitStack,
        store: Store,
        bus: Bus,
        *,
        before: Any = None,
        external: str = "",
        interval_s: float = 1.0,
    ) -> None:
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        self.receiver = stack.enter_context(Receiver(receiver_app(secrets=[secret]), port=0))
        sender = WebhookSender(
            f"{self.receiver.url}/webhooks/alerts",
            secrets=[secret],
            allow_http=True,  # the receiver is this process's own, on loopback
            allow_private=True,
            max_attempts=3,
        )
        self.evaluator = Evaluator(
            store,
            demo_rules(),
            sender,
            bus=bus,
            interval_s=interval_s,
            repeat_interval_s=3600,
            external_url=external,
            before_evaluation=before,
        )
        stack.callback(self.evaluator.close)

    def recap_lines(self) -> list[str]:
        """The recap's lines about the alerts the receiver got."""
        return [f"  alert received: {line}" for line in self.received()] or [
            "  alert received: none"
        ]

    def received(self) -> list[str]:
        """The alerts the receiver stored, oldest first: ``BreakerOpen firing (breaker=...)``."""
        reply = httpx2.get(f"{self.receiver.url}/api/v1/alerts", timeout=10).json()
        lines = []
        for alert in reversed(reply["alerts"]):
            labels = alert["labels"]
            keys = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
            lines.append(
                f"{labels['alertname']} {alert['status']}" + (f" ({keys})" if keys else "")
            )
        return lines


def run_demo(options: DemoOptions, console: Console) -> int:
    """Run the demo; the exit status (0, or 130 when interrupted during the runs).

    Raises:
        OSError: The port cannot be bound (the caller reports it).
    """
    check_port("127.0.0.1", options.port)
    bus = Bus(name="agentguard-demo")
    interrupted = False
    with ExitStack() as stack:
        store = MemoryStore()
        aggregator = Aggregator(store, interval_s=0.5)
        aggregator.attach(bus)
        stack.callback(aggregator.close)
        service = MetricsService(create_app(store, rate_limit_per_s=None), port=options.port)
        stack.callback(service.close)
        alerting = Alerting(
            stack, store, bus, before=lambda: aggregator.flush(2.0), external=service.url
        )
        session = stack.enter_context(
            Session(
                bus,
                options.seed,
                options.duration_s,
                live=options.live,
                model=options.model or MODEL,
            )
        )
        console.print(f"[bold]agentguard demo[/] (seed {options.seed}, {len(session.plans)} runs)")
        console.print(f"  dashboard:     {service.url}/")
        console.print(f"  metrics:       {service.url}/metrics")
        console.print(f"  alerts:        {alerting.receiver.url}/ (signed webhooks land here)")
        if session.server is not None:
            console.print(f"  fake API:      {session.server.url}")
        else:
            console.print(f"  live:          the real Messages API, model {session.model}")
        flush(console)

        def table() -> Table:
            return live_table(
                session.tally,
                len(session.plans),
                session.cache_hit_ratio(),
                len(alerting.evaluator.firing()),
            )

        def after_run(_: object) -> None:
            alerting.evaluator.evaluate()
            live.update(table())

        try:
            with Live(table(), console=console, refresh_per_second=4) as live:
                session.drive(after_run)
        except KeyboardInterrupt:
            interrupted = True
            console.print("[yellow]interrupted: stopping the runs[/]")
        alerting.evaluator.evaluate()
        alerting.evaluator.close()  # delivers the queued webhooks (bounded)
        console.print()
        print_summary(session.recorder, file=console.file)
        recap = recap_lines(session.tally, session.cache_hit_ratio(), session.cache_saved_usd())
        finish(console, [*recap, *alerting.recap_lines()], options.hold_s, interrupted)
    return 130 if interrupted else 0


def finish(console: Console, recap: list[str], hold_s: float, interrupted: bool) -> None:
    """Print the recap, then keep the servers up ``hold_s`` seconds (Ctrl-C ends it early)."""
    for line in recap:
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    flush(console)
    if hold_s > 0 and not interrupted:
        console.print(f"servers stay up for {hold_s:g} s (Ctrl-C to stop)")
        flush(console)
        with suppress(KeyboardInterrupt):
            time.sleep(hold_s)


def live_table(tally: Tally, planned: int, hit_ratio: float | None, firing: int) -> Table:
    """The table shown while the runs go on (it fits 80 columns: :func:`fit_columns`)."""
    table = Table(title="agentguard demo", show_header=True)
    fit_columns(
        table,
        [
            ("runs", f"{tally.runs_ok + tally.runs_failed}/{planned}"),
            ("failed", str(tally.runs_failed)),
            ("LLM\ncalls", str(tally.llm_calls)),
            ("cost", f"${tally.cost_usd:.4f}"),
            ("cache\nhit ratio", _ratio(hit_ratio)),
            ("breaker", tally.breaker_state.replace("_", " ")),
            ("loops", str(len(tally.loops))),
            ("alerts\nfiring", str(firing)),
        ],
        labels={"breaker"},
    )
    return table


def fit_columns(table: Table, cells: list[tuple[str, str]], *, labels: set[str]) -> None:
    """Add one row of ``(header, cell)`` to ``table`` so that no number is ever cut.

    A number's column is at least as wide as the number and never wraps; the ``labels``
    columns (words: a breaker's state) wrap instead. Headers are short words, on two lines
    where they are long, so the demo's tables fit 80 columns without cutting anything.
    """
    for header, cell in cells:
        if header in labels:
            table.add_column(header, overflow="fold")
        else:
            table.add_column(header, justify="right", no_wrap=True, min_width=len(cell))
    table.add_row(*(cell for _, cell in cells))


def recap_lines(tally: Tally, hit_ratio: float | None, saved_usd: float) -> list[str]:
    """The recap printed after the session summary: counts, transitions, crossings, money."""
    lines = ["", "Recap"]
    lines.append(
        f"  runs: {tally.runs_ok} ok, {tally.runs_failed} failed; LLM calls: {tally.llm_calls}"
    )
    lines.append("  events: " + ", ".join(f"{k} {n}" for k, n in sorted(tally.kinds.items())))
    lines += [f"  breaker: {t}" for t in tally.transitions] or ["  breaker: no transitions"]
    lines += [f"  loop: {x}" for x in tally.loops] or ["  loop: none detected"]
    lines += [f"  budget crossed: {b}" for b in tally.budgets] or ["  budget crossed: none"]
    lines.append(f"  cost: ${tally.cost_usd:.4f}")
    lines.append(f"  prompt cache: hit ratio {_ratio(hit_ratio)}, saved ${saved_usd:.4f}")
    return lines


def _ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


def flush(console: Console) -> None:
    """Write what the console holds now (a pipe reader sees each line as it is printed)."""
    console.file.flush()
