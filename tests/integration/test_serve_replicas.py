"""``agentguard serve`` in two and three copies over one real redis-server, one real receiver.

The replicas are subprocesses with the same ``--rules``; one holds the alert lease and sends,
the others evaluate in step and wait. Killed with SIGKILL, the holder is replaced within about
two intervals and the next firing is still stored once; paused with SIGSTOP while it retries,
it sends nothing once it wakes (fencing). Events reach Redis between two ticks: replicas
evaluate at the same instants, and an event landing at a tick could be seen a tick apart
(docs/architecture.md, "serve in N copies").
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest

from agentguard import Bus, run_context
from agentguard.events import LoopDetected
from agentguard_receiver import Receiver, create_app
from agentguard_redis import RedisSubscriber
from cli.test_serve import SECRET, Service
from support.redis_server import RedisServer
from support.scripted import Answer, ScriptedServer
from support.waiting import wait_until

INTERVAL_S = 0.5


def rules(tmp_path: Path, url: str, name: str = "rules.toml") -> str:
    path = tmp_path / name
    path.write_text(
        f"""
        [evaluation]
        interval = "{INTERVAL_S}s"

        [[webhook]]
        url = "{url}"
        secrets = ["{SECRET}"]
        allow_http = true
        allow_private = true
        timeout = "2s"

        [[builtin]]
        rule = "loop_detected"
        """,
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(create_app(secrets=[SECRET], rate_limit_per_s=None), port=0) as made:
        yield made


@pytest.fixture
def worker(redis_server: RedisServer) -> Iterator[RedisSubscriber]:
    made = RedisSubscriber.from_url(redis_server.url, process_id="worker", interval_s=None)
    yield made
    made.close(1.0)
    made.redis_store.client.close()


@pytest.fixture
def services() -> Iterator[list[Service]]:
    made: list[Service] = []
    yield made
    for service in made:
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGCONT)
        service.stop()


def loop(worker: RedisSubscriber, agent: str) -> None:
    """A loop detected in ``agent``, in Redis between two evaluation ticks."""
    while not 0.15 <= time.time() % INTERVAL_S <= 0.3:
        time.sleep(0.01)  # the phase of the tick is what matters here, not a duration
    bus = Bus()
    worker.attach(bus)
    with run_context(agent):
        bus.publish(LoopDetected(tool="lookup", pattern="repeat", repeats=4, action="stop"))
    assert worker.flush(5.0)


def lease(service: Service) -> dict[str, Any]:
    found: dict[str, Any] = service.get("/healthz").json()["alerts"]
    return found


def stored(receiver: Receiver) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx2.get(f"{receiver.url}/api/v1/alerts", timeout=5).json()[
        "alerts"
    ]
    return found


def agreed_holder(services: list[Service]) -> Service:
    """The one replica holding the lease, once every replica names it."""

    def one() -> Service | None:
        states = [lease(s) for s in services]
        holders = [s for s, state in zip(services, states, strict=True) if state["holds_lease"]]
        if len(holders) != 1:
            return None
        name = lease(holders[0])["replica"]
        return holders[0] if all(state["holder"] == name for state in states) else None

    return wait_until(one, 30, "one holder that every replica names", interval_s=0.05)


def fired(service: Service) -> float | None:
    """``agentguard_alerts_total`` of LoopDetected firing, as the service reads Redis."""
    found = re.search(
        r'^agentguard_alerts_total\{rule="LoopDetected",state="firing"\} (\S+)$',
        service.get("/metrics").text,
        re.MULTILINE,
    )
    return None if found is None else float(found.group(1))


def firings(receiver: Receiver) -> dict[str, list[str]]:
    """Per webhook id stored, the agents of its firing alerts."""
    found: dict[str, list[str]] = {}
    for alert in stored(receiver):
        found.setdefault(alert["webhookId"], []).append(alert["labels"]["agent"])
    return {k: sorted(v) for k, v in found.items()}


@pytest.mark.parametrize("copies", [2, 3])
def test_replicas_store_each_firing_once_and_survive_the_holders_death(
    copies: int,
    redis_server: RedisServer,
    receiver: Receiver,
    worker: RedisSubscriber,
    services: list[Service],
    tmp_path: Path,
) -> None:
    path = rules(tmp_path, f"{receiver.url}/webhooks/alerts")
    with ThreadPoolExecutor(copies) as starting:  # started at the same instant: one holder
        services += starting.map(
            lambda _: Service("--redis", redis_server.url, "--rules", path), range(copies)
        )
    holder = agreed_holder(services)
    first_token = lease(holder)["fencing_token"]

    loop(worker, "a")
    wait_until(lambda: len(stored(receiver)) == 1, 30, "the first firing stored")
    wait_until(lambda: fired(holder) == 1, 30, "the change counted in Redis")

    holder.process.kill()  # SIGKILL: no release, the lease must expire
    started = time.monotonic()
    assert holder.stop() == -signal.SIGKILL
    successor = agreed_holder([s for s in services if s is not holder])
    took_s = time.monotonic() - started
    assert lease(successor)["fencing_token"] > first_token
    print(f"takeover after SIGKILL: {took_s:.2f} s ({took_s / INTERVAL_S:.1f} intervals)")

    loop(worker, "b")
    wait_until(lambda: len(firings(receiver)) == 2, 30, "the second firing stored")
    assert sorted(firings(receiver).values()) == [["a"], ["a", "b"]], "each stored once"
    wait_until(lambda: fired(successor) == 2, 30, "each change counted once")


def test_a_paused_holder_sends_nothing_when_it_wakes(
    redis_server: RedisServer, worker: RedisSubscriber, services: list[Service], tmp_path: Path
) -> None:
    # Each replica sends to a target of its own. The holder's answers 503 and asks for a 2 s
    # pause: the holder is paused (SIGSTOP) while it waits to retry, and the other takes over.
    targets = [ScriptedServer(), ScriptedServer()]
    try:
        paths = [rules(tmp_path, t.url, f"rules{i}.toml") for i, t in enumerate(targets)]
        with ThreadPoolExecutor(2) as starting:
            services += starting.map(
                lambda path: Service("--redis", redis_server.url, "--rules", path), paths
            )
        paused = agreed_holder(services)
        successor = services[1 - services.index(paused)]
        paused_target = targets[services.index(paused)]
        successor_target = targets[services.index(successor)]
        paused_target.script.append(Answer(503, {"Retry-After": "2"}))

        loop(worker, "a")
        assert paused_target.first_request.wait(30)
        paused.process.send_signal(signal.SIGSTOP)
        wait_until(lambda: lease(successor)["holds_lease"], 30, "the other replica taking over")
        assert successor_target.first_request.wait(30), "the new holder sends the firing"

        paused.process.send_signal(signal.SIGCONT)
        paused.wait_for("no longer holds the alert lease")
        assert len(paused_target.requests) == 1, "the woken holder did not retry"
        (sent,) = successor_target.requests
        (tried,) = paused_target.requests
        assert sent.headers["webhook-id"] == tried.headers["webhook-id"], "one notification"
        assert int(sent.headers["agentguard-fencing-token"]) > int(
            tried.headers["agentguard-fencing-token"]
        )
        assert agreed_holder(services) is successor
    finally:
        for target in targets:
            target.close()
