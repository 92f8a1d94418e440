"""``agentguard demo --redis URL --workers N``: the agents in N processes, one shared service.

Each worker process (:mod:`agentguard_cli._worker`) runs a demo session of its own (its own
fake API, seed ``--seed + i``) with a ``RedisSubscriber`` flushing into Redis under a prefix
made for this demo. This process is what ``agentguard serve`` would be: the metrics service
over the Redis store on ``--port``, the alert rules evaluated centrally every half second with
their webhooks landing in a receiver, and a live table read from the service's own snapshot,
that is from every worker at once.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from contextlib import ExitStack, suppress
from typing import TYPE_CHECKING, Any

import redis
from rich.live import Live
from rich.table import Table

from agentguard import Bus
from agentguard_cli._demo import Alerting, finish, fit_columns, flush
from agentguard_cli._ports import check_port
from agentguard_cli._serve import outage, redact
from agentguard_redis import (
    SERVICE_READ_STALENESS_S,
    RedisSetupError,
    RedisStore,
    RedisSubscriber,
)
from agentguard_service import MetricsService, QueryEngine, create_app

if TYPE_CHECKING:
    from rich.console import Console

    from agentguard_cli._demo import DemoOptions

__all__ = ["run_workers"]


class RedisUnreachableError(OSError):
    """The demo's Redis did not answer or refused the login (the command says so in one line)."""


def run_workers(options: DemoOptions, console: Console) -> int:
    """Run the multi-process demo; the exit status (0, 1 if a worker failed, 130 if stopped).

    Raises:
        OSError: The port cannot be bound, or Redis cannot be reached.
    """
    assert options.redis_url is not None
    check_port("127.0.0.1", options.port)
    prefix = f"demo-{secrets.token_hex(3)}"
    store = RedisStore.from_url(
        options.redis_url, prefix=prefix, read_staleness_s=SERVICE_READ_STALENESS_S
    )
    try:
        store.check()
    except RedisSetupError as exc:
        store.client.close()
        raise RedisUnreachableError(f"{exc}; Redis at {redact(options.redis_url)}") from None
    except (redis.RedisError, OSError) as exc:
        store.client.close()
        raise RedisUnreachableError(
            f"cannot reach Redis at {redact(options.redis_url)} ({outage(exc)})"
        ) from None
    bus = Bus(name="agentguard-demo")
    interrupted = False
    with ExitStack() as stack:
        stack.callback(store.client.close)
        subscriber = RedisSubscriber(store, interval_s=0.5)  # the alerts' own state changes
        subscriber.attach(bus)
        stack.callback(subscriber.close)
        service = MetricsService(create_app(store, rate_limit_per_s=None), port=options.port)
        stack.callback(service.close)
        alerting = Alerting(stack, store, bus, external=service.url, interval_s=0.5)
        alerting.evaluator.start()
        workers = _start(options, prefix)
        stack.callback(_stop, workers)
        _announce(console, options, prefix, service.url, alerting.receiver.url)
        engine = QueryEngine(store)
        try:
            with Live(_table(engine, alerting, workers), console=console) as live:
                while any(w.poll() is None for w in workers):
                    time.sleep(0.5)
                    live.update(_table(engine, alerting, workers))
        except KeyboardInterrupt:
            interrupted = True
            console.print("[yellow]interrupted: stopping the workers[/]")
            _stop(workers)
        results = [_result(w) for w in workers]
        subscriber.flush(2.0)
        time.sleep(SERVICE_READ_STALENESS_S)
        alerting.evaluator.evaluate()
        alerting.evaluator.close()
        finish(console, _recap(engine, results, alerting), options.hold_s, interrupted)
    if interrupted:
        return 130
    return 0 if all(r is not None and r["applied"] for r in results) else 1


def _announce(
    console: Console, options: DemoOptions, prefix: str, service: str, receiver: str
) -> None:
    assert options.redis_url is not None
    console.print(
        f"[bold]agentguard demo[/] (seed {options.seed}, {options.workers} worker processes)"
    )
    console.print(f"  redis:         {redact(options.redis_url)}, prefix {prefix!r}")
    console.print(f"  dashboard:     {service}/")
    console.print(f"  metrics:       {service}/metrics")
    console.print(f"  alerts:        {receiver}/ (signed webhooks land here)")
    console.print(f"  the same from anywhere: agentguard serve --redis URL --prefix {prefix}")
    flush(console)


def _start(options: DemoOptions, prefix: str) -> list[subprocess.Popen[str]]:
    assert options.redis_url is not None
    return [
        subprocess.Popen(  # noqa: S603 (this interpreter running this package's worker)
            [
                sys.executable,
                "-m",
                "agentguard_cli._worker",
                options.redis_url,
                prefix,
                *map(str, (options.seed + i, options.duration_s)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        for i in range(options.workers)
    ]


def _stop(workers: list[subprocess.Popen[str]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        with suppress(subprocess.TimeoutExpired):
            worker.wait(10)
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def _result(worker: subprocess.Popen[str]) -> dict[str, Any] | None:
    """The worker's tally (its last line of output), or ``None`` if it gave none."""
    out, _ = worker.communicate(timeout=60)
    lines = out.strip().splitlines()
    try:
        found: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        return None
    return found


def _table(engine: QueryEngine, alerting: Alerting, workers: list[Any]) -> Table:
    snapshot: dict[str, Any] = dict(engine.snapshot())
    ratio = snapshot.get("cache_hit_ratio")
    breakers: dict[str, str] = snapshot.get("breakers") or {}
    states = (f"{name} {state.replace('_', ' ')}" for name, state in sorted(breakers.items()))
    # The breakers are words of any length: a caption under the table, wrapped, not a column.
    table = Table(
        title="agentguard demo: every worker, read back from Redis",
        caption="breakers: " + (", ".join(states) or "none"),
        caption_justify="left",
        show_header=True,
    )
    fit_columns(
        table,
        [
            ("workers", f"{sum(w.poll() is None for w in workers)}/{len(workers)}"),
            ("calls", str(snapshot.get("total_executions", 0))),
            ("active\nruns", f"{snapshot.get('active_executions', 0):g}"),
            ("errors", str(snapshot.get("error_count", 0))),
            ("cost", f"${snapshot.get('cost_usd_total', 0.0):.4f}"),
            ("cache\nhit ratio", "-" if ratio is None else f"{ratio:.2f}"),
            ("loops", str(snapshot.get("loop_detections", 0))),
            ("alerts\nfiring", str(len(alerting.evaluator.firing()))),
        ],
        labels=set(),
    )
    return table


def _recap(
    engine: QueryEngine, results: list[dict[str, Any] | None], alerting: Alerting
) -> list[str]:
    """What the workers counted beside what Redis holds for all of them, and the alerts."""
    done = [r for r in results if r is not None]

    def total(key: str) -> Any:
        return sum(r[key] for r in done)

    snapshot: dict[str, Any] = dict(engine.snapshot())
    endpoints: dict[str, dict[str, Any]] = snapshot["endpoints"]
    llm_in_redis = sum(e["requests_total"] for n, e in endpoints.items() if n.startswith("llm:"))
    reached = all(r["applied"] for r in done) and len(done) == len(results)
    return [
        "",
        "Recap (every worker)",
        f"  workers: {len(done)} of {len(results)} reported; "
        + ("every count reached Redis" if reached else "SOME COUNTS DID NOT REACH REDIS"),
        f"  runs: {total('runs_ok')} ok, {total('runs_failed')} failed; "
        f"LLM calls: {total('llm_calls')} (in Redis: {llm_in_redis})",
        f"  cost: ${total('cost_usd'):.4f} (in Redis: ${snapshot['cost_usd_total']:.4f})",
        f"  breaker transitions: {total('transitions')}; loops: {total('loops')}; "
        f"budgets crossed: {total('budgets')}",
        *alerting.recap_lines(),
    ]
