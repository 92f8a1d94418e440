"""One worker process of ``agentguard demo --redis URL --workers N``.

``python -m agentguard_cli._worker URL PREFIX SEED DURATION`` runs one demo session (the fake
API and the support agent) with a ``RedisSubscriber`` on its bus, flushing into Redis under
``PREFIX``, then prints its tally as one JSON line for the parent's recap.
"""

from __future__ import annotations

import json
import sys
import time

from agentguard import Bus
from agentguard_cli._session import Session
from agentguard_redis import RedisSubscriber

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Run one session; 0 when everything it measured reached Redis, 1 otherwise."""
    url, prefix, seed, duration = argv[0], argv[1], int(argv[2]), float(argv[3])
    bus = Bus(name=f"agentguard-demo-worker-{seed}")
    subscriber = RedisSubscriber.from_url(url, prefix=prefix, interval_s=0.5)
    subscriber.attach(bus)
    with Session(bus, seed, duration) as session:
        session.drive(lambda _: None)
    deadline = time.monotonic() + 30
    applied = subscriber.close(5.0)
    while not applied and time.monotonic() < deadline:
        applied = subscriber.flush(5.0)
    tally = session.tally
    print(
        json.dumps(
            {
                "runs_ok": tally.runs_ok,
                "runs_failed": tally.runs_failed,
                "llm_calls": tally.llm_calls,
                "cost_usd": tally.cost_usd,
                "loops": len(tally.loops),
                "transitions": len(tally.transitions),
                "budgets": len(tally.budgets),
                "applied": applied,
            }
        ),
        flush=True,
    )
    return 0 if applied else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
