"""Run the benchmarks: ``python -m bench [NAME ...] [--check | --imports]``.

Each benchmark module prints its figures, the reference measured in the same run, and the
command that reproduces it. With ``--check`` the exit status is 1 when a target was missed.
``--imports`` only imports every benchmark module (extras included): ``nox -s bench`` runs it
first, so a module that needs more than the bench environment holds (pytest, say) fails at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from bench._harness import Report

BENCHMARKS = {
    "bus": "bench.bench_bus",
    "trace": "bench.bench_trace",
    "pricing": "bench.bench_pricing",
    "classify": "bench.bench_classify",
    "breaker": "bench.bench_breaker",
    "loopguard": "bench.bench_loopguard",
    "prometheus": "bench.bench_prometheus",
    "otel": "bench.bench_otel",
    "receiver": "bench.bench_receiver",
    "alerts": "bench.bench_alerts",
    "metrics": "bench.bench_metrics",
    "redis": "bench.bench_redis",
    "query": "bench.bench_query",
    "streams": "bench.bench_streams",
    "scopes": "bench.bench_scopes",
    "claude_agent": "bench.bench_claude_agent",
}
EXTRA = {"scale": "bench.bench_scale"}
"""Run only when named: they take minutes (``python -m bench scale``)."""
GATED = ("pricing", "prometheus", "otel", "metrics")
"""What ``--gated`` runs, and CI with ``--check`` (.ci/run): every target of these is a ratio
against a reference measured in the same run, or an accuracy, so a busy machine does not miss
them. The others have absolute targets (P1 in ns, P4 in us, P6 in ms, P5 in events/s) that a
shared 2-core machine misses while other work runs (README.md, "Benchmarks in CI")."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, *EXTRA, []], help="which to run")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--imports", action="store_true", help="import every benchmark module, run none"
    )
    parser.add_argument("--gated", action="store_true", help=f"run {', '.join(GATED)}")
    args = parser.parse_args(argv)
    if args.imports:
        for module in [*BENCHMARKS.values(), *EXTRA.values()]:
            importlib.import_module(module)
        print(f"{len(BENCHMARKS) + len(EXTRA)} benchmark modules import")
        return 0
    failures: list[str] = []
    for name in args.names or (GATED if args.gated else BENCHMARKS):
        started = time.monotonic()
        report: Report = importlib.import_module({**BENCHMARKS, **EXTRA}[name]).run()
        report.print()
        print(f"  ({name} took {time.monotonic() - started:.0f} s)", flush=True)
        failures += report.failures
    if failures:
        print("\nMissed targets:\n  " + "\n  ".join(failures))
    return 1 if failures and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
