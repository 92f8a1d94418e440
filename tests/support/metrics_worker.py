"""A worker process of the cross-process tests: publishes known events into Redis.

``python -m support.metrics_worker URL PREFIX WORKER EVENTS PACE_S`` (with ``tests`` on the
path) publishes ``EVENTS`` rounds of events
(one LLM call, one tool call, and a run around them) through a :class:`RedisSubscriber`
flushing every 50 ms, ``PACE_S`` apart, then closes the subscriber, retrying until everything
it held was applied (Redis may be down or dropping replies when it is done). It prints
``progress N`` now and then and ``done`` at the end.

:func:`expected` says what the workers publish, so the test can compute the exact totals.
"""

from __future__ import annotations

import random
import sys
import time

from agentguard import Bus, run_context
from agentguard.events import LLMCallFinished, RunFinished, RunStarted, ToolCallFinished

MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5")


def durations(worker: int, events: int) -> list[float]:
    """The LLM call durations worker ``worker`` publishes, in order."""
    rng = random.Random(worker)
    mu = rng.uniform(-1.0, 1.0)  # each worker sees a different distribution
    return [rng.lognormvariate(mu, 0.8) for _ in range(events)]


def expected(worker: int, events: int) -> dict[str, object]:
    """What worker ``worker`` publishes in ``events`` rounds."""
    return {
        "llm_calls": {m: len(range(i, events, 2)) for i, m in enumerate(MODELS)},
        "input_tokens": sum(100 + i for i in range(events)),
        "tool_calls": events,
        "tool_errors": len(range(0, events, 7)),
        "runs": events,
        "durations": durations(worker, events),
    }


def main(url: str, prefix: str, worker: int, events: int, pace_s: float) -> None:
    from agentguard_redis import RedisSubscriber

    bus = Bus()
    subscriber = RedisSubscriber.from_url(url, prefix=prefix, interval_s=0.05)
    subscriber.attach(bus)
    for i, duration in enumerate(durations(worker, events)):
        with run_context(f"agent-{worker % 2}"):
            bus.publish(RunStarted())
            bus.publish(
                LLMCallFinished(
                    model=MODELS[i % 2], input_tokens=100 + i, output_tokens=10, duration_s=duration
                )
            )
            bus.publish(
                ToolCallFinished(
                    tool="search", duration_s=0.01, ok=i % 7 != 0, error_kind="timeout"
                )
            )
            bus.publish(RunFinished(duration_s=duration + 0.01, ok=True))
        if i % 100 == 0:
            print(f"progress {i}", flush=True)
        if pace_s:
            time.sleep(pace_s)
    deadline = time.monotonic() + 120
    while not subscriber.close(5.0):
        if time.monotonic() > deadline:
            print("gave up", flush=True)
            sys.exit(1)
    failed, skipped = subscriber.failed_flushes, subscriber.redis_store.skipped_chunks
    print(f"failed {failed} skipped {skipped}", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
