"""The breaker: closed-state call and 16 parallel slow calls against pybreaker (DESIGN.md P9)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pybreaker

from agentguard import Bus
from agentguard_breaker import CircuitBreaker
from bench._harness import Report, ns_per_call

COMMAND = "nox -s bench -- breaker   (or: python -m bench breaker)"


def _noop() -> None:
    return None


def _slow() -> None:
    time.sleep(0.1)


def _parallel_s(call: Callable[[], object], threads: int = 16) -> float:
    """Wall time of ``threads`` threads each making one call, started together."""
    barrier = threading.Barrier(threads + 1)

    def worker() -> None:
        barrier.wait()
        call()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started


def run() -> Report:
    """Measure and return the report."""
    report = Report("breaker: guarded calls (DESIGN.md P9)", COMMAND)
    ours = CircuitBreaker("bench", bus=Bus())
    guarded = ours(_noop)
    theirs = pybreaker.CircuitBreaker()
    ours_ns = ns_per_call("guarded()", {"guarded": guarded})
    theirs_ns = ns_per_call("call(noop)", {"call": theirs.call, "noop": _noop})
    bare_ns = ns_per_call("noop()", {"noop": _noop})
    report.measured("closed-state guarded call (@breaker)", ours_ns)
    report.measured("    reference: pybreaker CircuitBreaker().call", theirs_ns)
    report.measured("    reference: the bare no-op call", bare_ns)
    report.target("P9 closed-state call / pybreaker call", ours_ns / theirs_ns, 1.5, "x")

    ours_s = _parallel_s(ours(_slow))
    theirs_s = _parallel_s(lambda: theirs.call(_slow))
    report.target("P9 16 threads x 0.1 s calls through one breaker", ours_s, 0.2, "s")
    report.lines.append(f"  {'    reference: the same through pybreaker':<58} {theirs_s:10.3g} s")
    return report
