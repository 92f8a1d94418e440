"""Evaluators sharing a ``RedisLease`` on a real redis-server: only the holder speaks.

Both replicas read one store and evaluate at the same instants (fake time), so they agree on
every notification id; the standby publishes and sends nothing, and on taking over sends
what it withheld, with its own, larger, fencing token.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentguard import Bus
from agentguard.events import AlertStateChanged, LoopDetected
from agentguard.redisconnect import connect
from agentguard.testing import FakeClock, capture_events
from agentguard_alerts import Evaluator, RedisLease, builtin
from alerts.conftest import Feed, Recorder
from support.redis_server import RedisServer
from support.waiting import wait_until

LOOP = LoopDetected(agent="a", tool="search", pattern="repeat", repeats=4, action="warn")


class Replica:
    """An evaluator with its own lease, client, bus and notifier."""

    def __init__(self, url: str, feed: Feed, clock: FakeClock, name: str, ttl_s: float) -> None:
        self.client = connect(url)
        self.lease = RedisLease(self.client, ttl_s=ttl_s, replica=name)
        self.recorder = Recorder()
        self.bus = Bus(name=name)
        self.evaluator = Evaluator(
            feed.store,
            [builtin.loop_detected()],
            self.recorder,
            bus=self.bus,
            clock=clock.time,
            interval_s=1.0,
            lease=self.lease,
        )

    def close(self) -> None:
        self.evaluator.close()
        self.client.close()


def two_replicas(
    redis_server: RedisServer, feed: Feed, clock: FakeClock, ttl_s: float
) -> Iterator[list[Replica]]:
    made = [Replica(redis_server.url, feed, clock, f"r{i}", ttl_s=ttl_s) for i in range(2)]
    yield made
    for replica in made:
        replica.close()


@pytest.fixture
def replicas(redis_server: RedisServer, feed: Feed, clock: FakeClock) -> Iterator[list[Replica]]:
    """Two replicas; the lease's term, 30 s, outlasts the test unless it is given back."""
    yield from two_replicas(redis_server, feed, clock, ttl_s=30)


@pytest.fixture
def short_term(redis_server: RedisServer, feed: Feed, clock: FakeClock) -> Iterator[list[Replica]]:
    """Two replicas whose lease's term is 2 s (a takeover after the holder's death)."""
    yield from two_replicas(redis_server, feed, clock, ttl_s=2)


def test_only_the_holder_publishes_and_notifies(replicas: list[Replica], feed: Feed) -> None:
    holder, standby = replicas
    feed.publish(LOOP)
    with capture_events(holder.bus) as held, capture_events(standby.bus) as waited:
        (sent,) = holder.evaluator.evaluate()
        assert standby.evaluator.evaluate() == []
    assert [type(e) for e in held] == [AlertStateChanged]
    assert list(waited) == []
    assert sent.fencing_token == 1
    assert holder.recorder.take() == [sent]
    assert standby.recorder.take() == []
    assert standby.evaluator.firing() == holder.evaluator.firing(), "the standby keeps in step"


def test_a_standby_that_takes_over_sends_what_the_dead_holder_could_not(
    short_term: list[Replica], feed: Feed, clock: FakeClock
) -> None:
    holder, standby = short_term
    assert holder.evaluator.evaluate() == []  # nothing fires; the holder takes the lease
    assert standby.evaluator.evaluate() == []
    # The holder dies: it evaluates no more. The loop starts while its lease still runs.
    feed.publish(LOOP)
    clock.advance(1)
    assert standby.evaluator.evaluate() == [], "the holder's term is not over yet"
    wait_until(lambda: standby.lease.acquire() is not None, 10, "the lease to expire")
    clock.advance(1)
    with capture_events(standby.bus, to=AlertStateChanged) as published:
        (withheld,) = standby.evaluator.evaluate()
    states = [e.state for e in published if isinstance(e, AlertStateChanged)]
    assert states == ["firing"], "the change the holder never published"
    assert withheld.status == "firing"
    assert withheld.fencing_token == 2
    assert standby.recorder.take() == [withheld]
    clock.advance(1)
    assert standby.evaluator.evaluate() == [], "sent once, not again"


def test_ids_agree_so_an_overlap_at_takeover_is_one_notification(
    replicas: list[Replica], feed: Feed, clock: FakeClock
) -> None:
    holder, standby = replicas
    feed.publish(LOOP)
    (sent,) = holder.evaluator.evaluate()
    assert standby.evaluator.evaluate() == []
    holder.lease.release()  # a rolling restart: the holder hands over at once
    clock.advance(1)
    with capture_events(standby.bus, to=AlertStateChanged) as published:
        (again,) = standby.evaluator.evaluate()
    assert again.id == sent.id, "a receiver deduping on webhook-id stores it once"
    assert again.fencing_token == 2
    assert list(published) == [], "the holder published that change: it is counted once"


def test_closing_the_holder_hands_the_lease_over(replicas: list[Replica], feed: Feed) -> None:
    holder, standby = replicas
    holder.evaluator.evaluate()
    holder.evaluator.close()
    standby.evaluator.evaluate()
    assert standby.lease.state().holds


def test_a_term_that_ends_during_an_evaluation_withholds_its_notifications(
    redis_server: RedisServer, feed: Feed, clock: FakeClock
) -> None:
    # The lease is taken at 0 s on its monotonic clock; the evaluation then lasts past the
    # 30 s term (a pause): what it found is withheld, and sent once the lease is renewed.
    moments = iter([0.0, 100.0, 100.0, 100.0, 100.0])
    client = connect(redis_server.url)
    lease = RedisLease(client, ttl_s=30, monotonic=lambda: next(moments))
    recorder = Recorder()
    evaluator = Evaluator(
        feed.store, [builtin.loop_detected()], recorder, clock=clock.time, lease=lease
    )
    try:
        feed.publish(LOOP)
        assert evaluator.evaluate() == []
        assert recorder.take() == []
        clock.advance(15)
        (sent,) = evaluator.evaluate()  # renewed at 100 s: valid until 130 s
        assert sent.status == "firing"
        assert recorder.take() == [sent]
    finally:
        evaluator.close()
        client.close()
