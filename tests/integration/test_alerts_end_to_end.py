"""End to end: a loop in an agent fires a rule; the signed webhook reaches a running receiver.

The agent's loop guard publishes ``LoopDetected`` on the bus; the embedded evaluator's
aggregator puts it in a memory store; the ``LoopDetected`` rule fires; the webhook sender signs
the Alertmanager body and posts it to a real receiver over HTTP, which lists it as JSON and on
its page. When the loop leaves the rule's window, the resolution follows the same way.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import httpx2
import pytest

from agentguard import Bus, run_context
from agentguard.events import AlertStateChanged
from agentguard.testing import FakeClock, capture_events
from agentguard_alerts import WebhookSender, builtin, embedded
from agentguard_loopguard import LoopGuard, ToolLoopDetected, max_repeats
from agentguard_receiver import Receiver, create_app

SECRET = "whsec_" + base64.b64encode(b"end to end: alerts to a receiver").decode()


@pytest.fixture
def clock() -> FakeClock:
    """Fake time starting now: the loop guard stamps its events with the real clock."""
    return FakeClock(start_unix_s=time.time())


@pytest.fixture
def receiver(clock: FakeClock) -> Iterator[Receiver]:
    with Receiver(create_app(secrets=[SECRET], clock=clock.time, rate_limit_per_s=None)) as made:
        yield made


def test_a_loop_in_an_agent_reaches_the_receiver_and_resolves(
    clock: FakeClock, receiver: Receiver
) -> None:
    bus = Bus(name="agent")
    sender = WebhookSender(
        f"{receiver.url}/webhooks/alerts",
        secrets=[SECRET],
        allow_http=True,  # a loopback receiver in a test; production targets need https
        allow_private=True,
        clock=clock.time,
        monotonic=clock.monotonic,
    )
    evaluator = embedded([builtin.loop_detected()], sender, bus=bus, clock=clock.time)
    guard = LoopGuard(max_repeats(3), bus=bus)

    @guard.watch
    def search(query: str) -> str:
        return "no results"

    def researcher() -> None:
        with run_context("researcher"):
            for _ in range(10):
                search("the same thing")

    with capture_events(bus, to=AlertStateChanged) as states:
        with pytest.raises(ToolLoopDetected):
            researcher()
        evaluator.evaluate()
        assert sender.flush(10)

        alerts = httpx2.get(f"{receiver.url}/api/v1/alerts", timeout=5).json()["alerts"]
        (alert,) = alerts
        assert alert["status"] == "firing"
        assert alert["labels"]["alertname"] == "LoopDetected"
        assert alert["labels"]["agent"] == "researcher"
        assert alert["labels"]["tool"] == "search"
        assert (
            "agent researcher went round in a loop on tool search"
            in (alert["annotations"]["summary"])
        )
        assert alert["webhookId"].startswith("msg_"), "signed per Standard Webhooks"
        page = httpx2.get(f"{receiver.url}/", timeout=5).text
        assert "alertname=LoopDetected" in page and "agent=researcher" in page

        clock.advance(7 * 60)  # the loop leaves the 5-minute window
        evaluator.evaluate()
        assert sender.flush(10)

    resolved = httpx2.get(f"{receiver.url}/api/v1/alerts?status=resolved", timeout=5).json()
    (resolution,) = resolved["alerts"]
    assert resolution["labels"] == alert["labels"]
    assert resolution["fingerprint"] == alert["fingerprint"]
    assert resolution["endsAt"] != "0001-01-01T00:00:00Z"
    assert "resolved" in httpx2.get(f"{receiver.url}/", timeout=5).text
    assert [(s.rule, s.state) for s in states.of(AlertStateChanged)] == [
        ("LoopDetected", "firing"),
        ("LoopDetected", "resolved"),
    ]
    evaluator.close()
    assert (sender.delivered, sender.failed, sender.dropped) == (2, 0, 0)
