"""Handlers run after the acknowledgement, off the request path: log, callables, forwarding."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator

import httpx2
import pytest
from standardwebhooks import Webhook

from agentguard_receiver import Received, forward_to, load_handler, log_alerts
from receiver import handler_targets
from receiver.conftest import MakeReceiver
from receiver.webhooks import NEW_SECRET, TOKEN, encode, notification, signed_headers
from support.scripted import ScriptedServer
from support.waiting import wait_until


class Gate:
    """A handler that records and then holds until opened (proves it runs after the answer)."""

    def __init__(self) -> None:
        self.seen: list[Received] = []
        self.open = threading.Event()
        self.done = threading.Event()

    def __call__(self, received: Received) -> None:
        self.seen.append(received)
        assert self.open.wait(10), "the test never opened the gate"
        self.done.set()


def _post(url: str, body: bytes, headers: dict[str, str]) -> httpx2.Response:
    return httpx2.post(f"{url}/webhooks/alerts", content=body, headers=headers, timeout=5.0)


def test_handlers_run_after_the_acknowledgement(make_receiver: MakeReceiver) -> None:
    gate = Gate()
    receiver = make_receiver(handlers=[gate])
    body = encode(notification(alertname="LoopDetected", agent="support"))
    answer = _post(receiver.url, body, signed_headers(body, msg_id="msg_gate"))
    assert answer.status_code == 200, "answered while the handler still holds"
    assert not gate.done.is_set()
    gate.open.set()
    assert gate.done.wait(10)
    (received,) = gate.seen
    assert received.webhook_id == "msg_gate"
    assert received.body == body
    assert received.notification.alerts[0].labels["agent"] == "support"
    assert received.notification.status == "firing"


def test_a_replay_does_not_run_the_handlers_again_and_a_bearer_post_does(
    make_receiver: MakeReceiver,
) -> None:
    seen: list[Received] = []
    done = threading.Semaphore(0)

    def handler(received: Received) -> None:
        seen.append(received)
        done.release()

    receiver = make_receiver(handlers=[handler])
    body = encode(notification())
    headers = signed_headers(body, msg_id="msg_once")
    for _ in range(3):
        assert _post(receiver.url, body, headers).status_code == 200
    bearer = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
    assert _post(receiver.url, body, bearer).status_code == 200
    assert done.acquire(timeout=10) and done.acquire(timeout=10)
    assert [r.webhook_id for r in seen] == ["msg_once", None]


def test_a_failing_handler_is_logged_and_the_next_one_still_runs(
    make_receiver: MakeReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    ran = threading.Event()

    def broken(received: Received) -> None:
        raise RuntimeError("a bug in the user's handler")

    receiver = make_receiver(handlers=[broken, lambda received: ran.set()])
    body = encode(notification())
    assert _post(receiver.url, body, signed_headers(body)).status_code == 200
    assert ran.wait(10)
    assert "<locals>.broken: raised RuntimeError" in caplog.text


def test_the_log_handler_writes_one_line_per_alert(
    make_receiver: MakeReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agentguard_receiver.alerts")
    logged = threading.Event()
    receiver = make_receiver(handlers=[log_alerts, lambda received: logged.set()])
    body = encode(notification(alertname="HighErrorRate", model="claude-sonnet-4-6"))
    assert _post(receiver.url, body, signed_headers(body)).status_code == 200
    assert logged.wait(10)
    (line,) = [r.message for r in caplog.records if r.name == "agentguard_receiver.alerts"]
    assert line == (
        "FIRING HighErrorRate {model=claude-sonnet-4-6 severity=critical} errors above 5%"
    )


@pytest.mark.parametrize(
    "spec", ["receiver.handler_targets:record", "receiver.handler_targets:record_async"]
)
def test_a_user_callable_given_as_module_and_function(
    make_receiver: MakeReceiver, spec: str
) -> None:
    handler_targets.SEEN.clear()
    done = threading.Event()
    receiver = make_receiver(handlers=[load_handler(spec), lambda received: done.set()])
    body = encode(notification(alertname="ByName"))
    assert _post(receiver.url, body, signed_headers(body)).status_code == 200
    assert done.wait(10)
    assert [r.notification.alerts[0].labels["alertname"] for r in handler_targets.SEEN] == [
        "ByName"
    ]


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("no_colon", ValueError, "'package.module:function'"),
        ("receiver.handler_targets:", ValueError, "'package.module:function'"),
        ("receiver.nowhere_at_all:f", ValueError, "cannot import 'receiver.nowhere_at_all'"),
        ("receiver.handler_targets:missing", ValueError, "has no 'missing'"),
        ("receiver.handler_targets:NOT_CALLABLE", TypeError, "not callable"),
    ],
)
def test_a_bad_handler_name_fails_at_once(spec: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        load_handler(spec)


@pytest.fixture
def capture() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.close()


def test_forwarding_signs_the_body_again_with_its_own_secret(
    make_receiver: MakeReceiver, capture: ScriptedServer
) -> None:
    forwarder = forward_to(capture.url, secrets=[NEW_SECRET], allow_http=True, allow_private=True)
    receiver = make_receiver(handlers=[forwarder])
    body = encode(notification(alertname="Forwarded"))
    assert _post(receiver.url, body, signed_headers(body, msg_id="msg_in")).status_code == 200
    assert capture.first_request.wait(10)
    assert forwarder.flush(10)
    receiver.close()
    (request,) = capture.requests
    assert request.body == body
    assert request.headers["webhook-id"] == "msg_in", "the next receiver dedupes on it too"
    # The reference library verifies our signature (at the real time: no fake clock here).
    assert Webhook(NEW_SECRET).verify(request.body, request.headers) == json.loads(body)
    assert forwarder.sender.delivered == 1


def test_forwarding_to_another_receiver_stores_it_there(make_receiver: MakeReceiver) -> None:
    downstream = make_receiver(secrets=[NEW_SECRET])
    forwarder = forward_to(
        f"{downstream.url}/webhooks/alerts",
        secrets=[NEW_SECRET],
        allow_http=True,
        allow_private=True,
    )
    queued = threading.Event()
    upstream = make_receiver(handlers=[forwarder, lambda received: queued.set()])
    body = encode(notification(alertname="Relayed"))
    assert _post(upstream.url, body, signed_headers(body)).status_code == 200
    assert queued.wait(10), "the forwarder queued it (handlers run in order)"
    assert forwarder.flush(10)
    alerts = httpx2.get(f"{downstream.url}/api/v1/alerts", timeout=5).json()["alerts"]
    assert [a["labels"]["alertname"] for a in alerts] == ["Relayed"]
    upstream.close()
    with pytest.raises(RuntimeError, match="closed"):
        forwarder.sender.send_body(b"{}")


def test_a_notification_delivered_twice_is_stored_and_forwarded_once(
    make_receiver: MakeReceiver,
) -> None:
    # Two serve replicas overlapping at a takeover post the same webhook-id to two receivers
    # (a pair behind a load balancer, say) that both forward to one downstream receiver.
    downstream = make_receiver(secrets=[NEW_SECRET])
    url = f"{downstream.url}/webhooks/alerts"
    forwarders = [
        forward_to(url, secrets=[NEW_SECRET], allow_http=True, allow_private=True) for _ in range(2)
    ]
    upstreams = [make_receiver(handlers=[f]) for f in forwarders]
    body = encode(notification(alertname="Overlap"))
    answers = [
        _post(upstream.url, body, signed_headers(body, msg_id="msg_overlap")).json()
        for upstream in (*upstreams, upstreams[0])
    ]
    assert [a["duplicate"] for a in answers] == [False, False, True]
    wait_until(lambda: [f.sender.delivered for f in forwarders] == [1, 1], 10, "both forwarded it")
    alerts = httpx2.get(f"{downstream.url}/api/v1/alerts", timeout=5).json()["alerts"]
    assert [(a["labels"]["alertname"], a["webhookId"]) for a in alerts] == [
        ("Overlap", "msg_overlap")
    ]


def test_forwarding_refuses_private_targets_unless_allowed() -> None:
    with pytest.raises(ValueError, match="not a public address"):
        forward_to("https://127.0.0.1/hook", secrets=[NEW_SECRET])
    with pytest.raises(ValueError, match="https is required"):
        forward_to("http://alerts.example.com/hook", secrets=[NEW_SECRET])
