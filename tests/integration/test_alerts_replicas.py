"""Two evaluators over one store, both sending, deliver to one real receiver.

Each evaluates the same firing rule and posts its own signed notification (no lease: the
overlap of two ``serve`` replicas at a takeover, always); the ids derive from the group, the
transition and its start time, so the receiver, which dedupes on ``webhook-id``, stores the
firing once and the resolution once. The lease itself: test_serve_replicas.py.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace

import httpx2
import pytest

from agentguard import Bus
from agentguard.events import LoopDetected
from agentguard.testing import FakeClock
from agentguard_alerts import Evaluator, WebhookSender, builtin
from agentguard_metrics import Aggregator, MemoryStore
from agentguard_receiver import Receiver, create_app

SECRET = "whsec_" + base64.b64encode(b"two replicas, one receiver").decode()


@pytest.fixture
def receiver(clock: FakeClock) -> Iterator[Receiver]:
    with Receiver(create_app(secrets=[SECRET], clock=clock.time, rate_limit_per_s=None)) as made:
        yield made


@pytest.fixture
def clock() -> FakeClock:
    """Fake time; the receiver takes the senders' timestamps because it reads the same clock."""
    return FakeClock()


def alerts(receiver: Receiver) -> list[dict[str, str]]:
    """What the receiver stored, one entry per alert of each notification it kept."""
    found: list[dict[str, str]] = httpx2.get(f"{receiver.url}/api/v1/alerts", timeout=5).json()[
        "alerts"
    ]
    return found


def test_two_replicas_deliver_each_transition_once(clock: FakeClock, receiver: Receiver) -> None:
    bus = Bus(name="agents")
    store = MemoryStore(clock=clock.time)
    aggregator = Aggregator(store, clock=clock.time, process_id="agents")
    aggregator.attach(bus)
    senders = [
        WebhookSender(
            f"{receiver.url}/webhooks/alerts",
            secrets=[SECRET],
            allow_http=True,  # a loopback receiver in a test
            allow_private=True,
            clock=clock.time,
            monotonic=clock.monotonic,
        )
        for _ in range(2)
    ]
    replicas = [
        Evaluator(store, [builtin.loop_detected()], s, bus=Bus(name="replica"), clock=clock.time)
        for s in senders
    ]

    def loop() -> None:
        event = LoopDetected(agent="a", tool="search", pattern="repeat", repeats=4, action="warn")
        bus.publish(replace(event, at_unix_s=clock.time()))
        assert aggregator.flush(2.0)

    def evaluate() -> None:
        for replica in replicas:
            replica.evaluate()
        for sender in senders:
            assert sender.flush(10)

    try:
        loop()
        evaluate()
        (firing,) = alerts(receiver)
        assert firing["status"] == "firing"
        clock.advance(7 * 60)  # the loop leaves the 5-minute window
        evaluate()
        stored = alerts(receiver)
        assert sorted(a["status"] for a in stored) == ["firing", "resolved"]
        loop()  # a second firing of the same rule and group: a new notification
        evaluate()
        stored = alerts(receiver)
        assert sorted(a["status"] for a in stored) == ["firing", "firing", "resolved"]
        ids = [a["webhookId"] for a in stored]
        assert len(set(ids)) == 3, "firing, resolved and the second firing differ"
        assert all(s.delivered == 3 and s.failed == 0 for s in senders), "both posted each"
    finally:
        for replica in replicas:
            replica.close()
        aggregator.close()
