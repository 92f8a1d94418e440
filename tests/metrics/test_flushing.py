"""The flusher: in the background, bounded when the store hangs, safe across fork and exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from agentguard import Bus
from agentguard.events import LLMCallFinished, RunStarted
from agentguard_metrics import Aggregator, DeltaBatch, MemoryStore

T0 = 1_767_225_600.0
CALLS = "agentguard_llm_calls_total"


class Gate(MemoryStore):
    """A memory store whose ``apply`` blocks while the gate is shut, as a hung Redis would."""

    def __init__(self) -> None:
        super().__init__(clock=lambda: T0)
        self.open = threading.Event()
        self.open.set()
        self.applied = threading.Event()
        self.threads: set[str] = set()

    def apply(self, batch: DeltaBatch) -> None:
        self.threads.add(threading.current_thread().name)
        self.open.wait(30)
        super().apply(batch)
        self.applied.set()


def call() -> LLMCallFinished:
    return LLMCallFinished(model="m", duration_s=0.5, at_unix_s=T0)


def test_once_attached_it_flushes_in_the_background() -> None:
    store = Gate()
    aggregator = Aggregator(store, process_id="p", interval_s=0.01)
    bus = Bus()
    aggregator.attach(bus)
    bus.publish(call())
    assert store.applied.wait(10)  # nobody called flush
    assert store.counter(CALLS) == 1.0
    assert store.threads == {"agentguard-metrics-flusher"}
    assert aggregator.close(2.0)


def test_flush_returns_within_its_timeout_when_the_store_hangs() -> None:
    store = Gate()
    aggregator = Aggregator(store, process_id="p", interval_s=60.0)
    bus = Bus()
    aggregator.attach(bus)
    store.open.clear()
    bus.publish(call())
    started = time.monotonic()
    assert aggregator.flush(0.2) is False
    assert time.monotonic() - started < 2.0
    for _ in range(1000):  # publishing never waits for the hung store
        bus.publish(call())
    store.open.set()
    assert aggregator.close(5.0)
    assert store.counter(CALLS) == 1001.0


def test_without_a_flusher_flush_runs_in_the_caller() -> None:
    store = Gate()
    aggregator = Aggregator(store, process_id="p", interval_s=None)
    aggregator.attach(Bus())
    aggregator.record(call())
    assert aggregator.flush(1.0)
    assert store.threads == {threading.current_thread().name}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_starts_afresh() -> None:
    store = MemoryStore(clock=lambda: T0)
    aggregator = Aggregator(store, interval_s=None)
    aggregator.record(call())
    aggregator.record(RunStarted(agent="a", at_unix_s=T0))
    parent_id = aggregator.process_id
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it holds, never run the test runner's exit
        try:
            fresh = aggregator.held_series == 0 and aggregator.process_id != parent_id
            aggregator.record(call())
            aggregator.flush(1.0)
            applied = store.counter(CALLS) == 1.0  # the child's memory: its own event only
            os.write(write, b"ok" if fresh and applied else b"no")
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as reader:
        assert reader.read() == b"ok"
    assert aggregator.process_id == parent_id
    assert aggregator.flush(1.0)
    assert store.counter(CALLS) == 1.0  # the parent's own, sent once
    assert store.gauge("agentguard_runs_in_progress") == 1.0


def test_what_is_held_at_exit_is_flushed(tmp_path: Path) -> None:
    """An attached aggregator flushes at interpreter exit, without close() being called."""
    out = tmp_path / "applied.txt"
    script = textwrap.dedent(
        f"""
        from agentguard import Bus
        from agentguard.events import LLMCallFinished
        from agentguard_metrics import Aggregator, MemoryStore

        class Writing(MemoryStore):
            def apply(self, batch):
                super().apply(batch)
                with open({str(out)!r}, "w") as f:
                    f.write(str(self.counter("agentguard_llm_calls_total")))

        bus = Bus()
        Aggregator(Writing(), interval_s=3600).attach(bus)
        for _ in range(7):
            bus.publish(LLMCallFinished(model="m", duration_s=0.1))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert out.read_text() == "7.0"
