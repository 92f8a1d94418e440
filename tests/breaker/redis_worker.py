"""A second process with a breaker on shared state: reads commands, answers JSON lines.

Commands on stdin, one per line: ``ok`` (a call that returns), ``fault`` (a call that raises
a provider fault), ``state`` (no call). Each answer says what happened and what the breaker
then looks like.
"""

from __future__ import annotations

import json
import sys

from agentguard import Bus
from agentguard.events import Event
from agentguard_breaker import CircuitBreaker, CircuitOpenError


def main() -> None:
    url, name = sys.argv[1], sys.argv[2]
    bus = Bus()
    events: list[Event] = []
    bus.subscribe(events.append)
    breaker = CircuitBreaker(
        name, fail_max=2, reset_timeout_s=60, bus=bus, redis=url, redis_retry_s=0.0
    )

    @breaker
    def call(fault: bool) -> None:
        if fault:
            raise TimeoutError

    for line in sys.stdin:
        command = line.strip()
        result = "none"
        if command in {"ok", "fault"}:
            try:
                call(command == "fault")
                result = "passed"
            except CircuitOpenError:
                result = "rejected"
            except TimeoutError:
                result = "failed"
        answer = {
            "result": result,
            "state": breaker.state,
            "failures": breaker.failure_count,
            "fallbacks": breaker.redis_fallbacks,
            "kinds": [event.kind for event in events],
        }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
