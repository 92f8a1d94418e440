"""The sender against a scripted real HTTP server: statuses, retries, backoff, signatures."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
from standardwebhooks import Webhook

from agentguard.testing import FakeClock
from agentguard_alerts import Alert, Notification, WebhookSender
from agentguard_alerts.notification import fingerprint
from support.scripted import Answer, ScriptedServer

SECRET = "whsec_" + base64.b64encode(b"the alerts sender's test secret!").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"the secret rotated in, 32 bytes!").decode()

MakeServer = Callable[..., ScriptedServer]


def notification(status: str = "firing", agent: str = "support") -> Notification:
    labels = {"alertname": "LoopDetected", "severity": "warning", "agent": agent, "tool": "search"}
    return Notification(
        group_labels={"alertname": "LoopDetected"},
        alerts=(
            Alert(
                status=status,  # type: ignore[arg-type]  # firing or resolved
                labels=labels,
                annotations={"summary": f"agent {agent} loops on search"},
                starts_at_unix_s=1_767_225_600.0,
                ends_at_unix_s=None if status == "firing" else 1_767_225_900.0,
                value=1.0,
                fingerprint=fingerprint(labels),
            ),
        ),
        external_url="http://dashboard.example/",
    )


@pytest.fixture
def server() -> Iterator[MakeServer]:
    made: list[ScriptedServer] = []

    def make(*answers: Answer) -> ScriptedServer:
        made.append(ScriptedServer(*answers))
        return made[-1]

    yield make
    for server in made:
        server.close()


class Waits:
    """The sender's injected sleep: records each wait and moves the fake clock by it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


@pytest.fixture
def waits(clock: FakeClock) -> Waits:
    return Waits(clock)


@pytest.fixture
def make_sender(clock: FakeClock, waits: Waits) -> Iterator[Callable[..., WebhookSender]]:
    made: list[WebhookSender] = []

    def make(url: str, **options: object) -> WebhookSender:
        settings: dict[str, object] = {
            "secrets": [SECRET],
            "allow_http": True,
            "allow_private": True,
            "clock": clock.time,
            "monotonic": clock.monotonic,
            "sleep": waits,
            "random": lambda: 0.5,
            "timeout_s": 2.0,
            **options,
        }
        sender = WebhookSender(url, **settings)  # type: ignore[arg-type]  # WebhookSender's options
        made.append(sender)
        return sender

    yield make
    for sender in made:
        sender.close(timeout_s=0.5)


def test_a_notification_is_an_alertmanager_v4_body_signed_per_standard_webhooks(
    server: MakeServer, make_sender: Callable[..., WebhookSender], clock: FakeClock
) -> None:
    target = server()
    sender = make_sender(target.url)
    sender.notify(notification())
    assert sender.flush(10)
    (request,) = target.requests
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.body)
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["groupKey"] == '{}:{alertname="LoopDetected"}'
    assert body["receiver"] == "agentguard"
    assert body["groupLabels"] == {"alertname": "LoopDetected"}
    assert body["commonLabels"]["agent"] == "support"
    assert body["commonAnnotations"] == {"summary": "agent support loops on search"}
    assert body["externalURL"] == "http://dashboard.example/"
    (alert,) = body["alerts"]
    assert alert["startsAt"] == "2026-01-01T00:00:00.000Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert set(alert) >= {"status", "labels", "annotations", "startsAt", "endsAt", "fingerprint"}
    assert request.headers["webhook-timestamp"] == str(int(clock.time()))
    # The reference library verifies what we signed (it checks the timestamp against now).
    now_headers = _resign_now(request.headers, request.body)
    assert Webhook(SECRET).verify(request.body, now_headers) == body
    assert (sender.delivered, sender.failed, sender.retries) == (1, 0, 0)


def _resign_now(headers: dict[str, str], body: bytes) -> dict[str, str]:
    """The library checks timestamps against the real clock; our clock is fake. Check that
    our signature is the library's for our timestamp, then hand it a fresh one to verify."""
    stamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=timezone.utc)
    ours = headers["webhook-signature"].split(" ")
    theirs = Webhook(SECRET).sign(headers["webhook-id"], stamp, body.decode())
    assert theirs in ours
    now = datetime.now(tz=timezone.utc)
    return {
        "webhook-id": headers["webhook-id"],
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(headers["webhook-id"], now, body.decode()),
    }


def test_every_secret_signs_so_a_rotating_receiver_accepts_either(
    server: MakeServer, make_sender: Callable[..., WebhookSender]
) -> None:
    target = server()
    sender = make_sender(target.url, secrets=[SECRET, NEW_SECRET], clock=lambda: 2e9)
    sender.notify(notification())
    assert sender.flush(10)
    (request,) = target.requests
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    stamp = datetime.fromtimestamp(2e9, tz=timezone.utc)
    for secret in (SECRET, NEW_SECRET):
        expected = Webhook(secret).sign(request.headers["webhook-id"], stamp, request.body.decode())
        assert expected in signatures


def test_retries_keep_the_webhook_id_and_sign_each_attempt_afresh(
    server: MakeServer, make_sender: Callable[..., WebhookSender], waits: Waits
) -> None:
    target = server(Answer(503), Answer(502), Answer(200))
    sender = make_sender(target.url)
    sender.notify(notification())
    assert sender.flush(10)
    ids = {r.headers["webhook-id"] for r in target.requests}
    assert ids == {notification().id}, "the notification's own id, on every attempt"
    assert len(target.requests) == 3
    stamps = [int(r.headers["webhook-timestamp"]) for r in target.requests]
    assert stamps == sorted(stamps) and stamps[0] < stamps[-1], "fresh timestamps per attempt"
    assert waits.waits == [0.5, 1.0], "full jitter: random() * base * 2**n, random() = 0.5"
    assert (sender.delivered, sender.retries, sender.failed) == (1, 2, 0)


def test_the_webhook_id_is_derived_from_the_group_the_transition_and_its_start() -> None:
    firing, resolved = notification(), notification("resolved")
    assert firing.id == notification().id, "the same in any process, on any run"
    assert firing.id.startswith("msg_") and len(firing.id) == 36
    assert len({firing.id, resolved.id, notification(agent="ops").id}) == 3
    later = replace(firing, alerts=(replace(firing.alerts[0], starts_at_unix_s=1.8e9),))
    repeat = replace(firing, sequence=1)
    assert len({firing.id, later.id, repeat.id}) == 3
    assert replace(firing, receiver="x", external_url="").id == firing.id, "body details aside"


def test_backoff_grows_exponentially_to_its_cap_with_full_jitter(
    server: MakeServer, make_sender: Callable[..., WebhookSender], waits: Waits
) -> None:
    target = server(*[Answer(500)] * 6)
    draws = iter([0.9, 0.1, 0.99, 0.5, 0.25, 0.75])
    sender = make_sender(target.url, base_delay_s=1.0, max_delay_s=4.0, random=lambda: next(draws))
    sender.notify(notification())
    assert sender.flush(10)
    assert waits.waits == pytest.approx([0.9 * 1, 0.1 * 2, 0.99 * 4, 0.5 * 4, 0.25 * 4, 0.75 * 4])
    assert sender.delivered == 1


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
def test_server_errors_and_throttling_are_retried(
    server: MakeServer, make_sender: Callable[..., WebhookSender], status: int
) -> None:
    target = server(Answer(status))
    sender = make_sender(target.url)
    sender.notify(notification())
    assert sender.flush(10)
    assert (len(target.requests), sender.delivered, sender.retries) == (2, 1, 1)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 415, 422])
def test_other_client_errors_are_given_up_at_once(
    server: MakeServer,
    make_sender: Callable[..., WebhookSender],
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = server(Answer(status))
    sender = make_sender(target.url)
    sender.notify(notification())
    assert sender.flush(10)
    assert (len(target.requests), sender.delivered, sender.failed) == (1, 0, 1)
    assert f"answered {status}, which is not retried" in caplog.text


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_every_2xx_is_delivered(
    server: MakeServer, make_sender: Callable[..., WebhookSender], status: int
) -> None:
    target = server(Answer(status, body=b""))
    sender = make_sender(target.url)
    sender.notify(notification())
    assert sender.flush(10)
    assert (sender.delivered, sender.failed) == (1, 0)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(
    server: MakeServer,
    make_sender: Callable[..., WebhookSender],
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    elsewhere = server()
    target = server(Answer(status, {"location": elsewhere.url + "?token=s3cr3t"}))
    sender = make_sender(target.url)
    sender.notify(notification())
    assert sender.flush(10)
    assert len(target.requests) == 1
    assert elsewhere.requests == [], "the redirect target got nothing"
    assert sender.failed == 1
    assert f"redirect to http://127.0.0.1:{elsewhere.port}, which is not followed" in caplog.text
    assert "s3cr3t" not in caplog.text


def test_retry_after_in_seconds_is_honoured(
    server: MakeServer, make_sender: Callable[..., WebhookSender], waits: Waits
) -> None:
    target = server(Answer(429, {"retry-after": "7"}), Answer(503, {"retry-after": "0"}))
    sender = make_sender(target.url)
    sender.notify(notification())
    assert sender.flush(10)
    assert waits.waits == [7.0, 1.0], "7 s asked for; then the backoff, as 0 s is less"
    assert sender.delivered == 1


def test_retry_after_as_an_http_date_is_honoured(
    server: MakeServer, make_sender: Callable[..., WebhookSender], waits: Waits, clock: FakeClock
) -> None:
    later = datetime.fromtimestamp(clock.time() + 30, tz=timezone.utc)
    target = server(Answer(503, {"retry-after": format_datetime(later, usegmt=True)}))
    sender = make_sender(target.url)
    sender.notify(notification())
    assert sender.flush(10)
    assert waits.waits == [30.0]


def test_a_retry_after_past_the_horizon_gives_up(
    server: MakeServer,
    make_sender: Callable[..., WebhookSender],
    waits: Waits,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = server(Answer(503, {"retry-after": "3600"}))
    sender = make_sender(target.url, max_horizon_s=600)
    sender.notify(notification())
    assert sender.flush(10)
    assert waits.waits == []
    assert (len(target.requests), sender.failed) == (1, 1)
    assert "would pass the 600 s horizon" in caplog.text


def test_attempts_are_bounded(
    server: MakeServer, make_sender: Callable[..., WebhookSender], caplog: pytest.LogCaptureFixture
) -> None:
    target = server(*[Answer(503)] * 10)
    sender = make_sender(target.url, max_attempts=4)
    sender.notify(notification())
    assert sender.flush(10)
    assert (len(target.requests), sender.failed, sender.retries) == (4, 1, 3)
    assert "answered 503; 4 attempts made" in caplog.text


def test_the_horizon_bounds_the_time_spent_on_one_notification(
    server: MakeServer, make_sender: Callable[..., WebhookSender], waits: Waits
) -> None:
    target = server(*[Answer(503)] * 20)
    sender = make_sender(
        target.url, random=lambda: 1.0, base_delay_s=10, max_delay_s=40, max_horizon_s=100
    )
    sender.notify(notification())
    assert sender.flush(10)
    assert waits.waits == [10, 20, 40], "the next 40 s would pass 100 s"
    assert sum(waits.waits) <= 100
    assert sender.failed == 1


def test_410_gone_disables_the_target(
    server: MakeServer, make_sender: Callable[..., WebhookSender], caplog: pytest.LogCaptureFixture
) -> None:
    target = server(Answer(410))
    sender = make_sender(target.url)
    sender.notify(notification())
    assert sender.flush(10)
    assert sender.disabled
    sender.notify(notification("resolved"))
    assert sender.flush(10)
    assert len(target.requests) == 1, "nothing more is sent after 410"
    assert (sender.delivered, sender.failed) == (0, 2)
    assert "410 Gone" in caplog.text


def test_a_timeout_is_retried(
    server: MakeServer, make_sender: Callable[..., WebhookSender], caplog: pytest.LogCaptureFixture
) -> None:
    target = server(Answer(hang=True), Answer(200))
    sender = make_sender(target.url, timeout_s=0.2)
    sender.notify(notification())
    assert sender.flush(10)
    assert (len(target.requests), sender.delivered, sender.retries) == (2, 1, 1)


def test_an_unreachable_target_is_given_up_after_its_attempts_and_logged(
    make_sender: Callable[..., WebhookSender], unused_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    sender = make_sender(f"http://127.0.0.1:{unused_port}/hooks", max_attempts=3)
    sender.notify(notification())
    assert sender.flush(10)
    assert (sender.failed, sender.retries) == (1, 2)
    assert "could not connect or send (ConnectError); 3 attempts made" in caplog.text


def test_a_full_queue_counts_and_logs_what_it_turns_away(
    server: MakeServer, make_sender: Callable[..., WebhookSender], caplog: pytest.LogCaptureFixture
) -> None:
    target = server(Answer(hang=True))
    sender = make_sender(target.url, queue_size=1, timeout_s=1.0)
    sender.notify(notification(agent="first"))
    assert target.first_request.wait(10), "the first is in flight"
    sender.notify(notification(agent="queued"))
    sender.notify(notification(agent="turned away"))
    assert sender.dropped == 1
    assert "the queue is full (1); dropped firing" in caplog.text
    assert not sender.flush(0.05), "the first still hangs"


def test_close_gives_up_what_it_cannot_deliver_in_time_and_says_so(
    server: MakeServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    target = server(*[Answer(503)] * 5)
    sender = WebhookSender(
        target.url,
        secrets=[SECRET],
        allow_http=True,
        allow_private=True,
        clock=clock.time,
        monotonic=clock.monotonic,
        base_delay_s=3600,
        max_delay_s=3600,
        max_horizon_s=7200,
    )  # the default sleep: a wait that close() cuts short
    sender.notify(notification())
    assert target.first_request.wait(10)
    sender.close(timeout_s=0.1)
    assert (sender.delivered, sender.failed) == (0, 1)
    assert "closed while waiting to retry" in caplog.text
    assert "closed: 0 delivered, 1 given up, 0 dropped" in caplog.text
    with pytest.raises(RuntimeError, match="closed"):
        sender.notify(notification())


def test_secrets_signatures_and_url_paths_never_reach_the_logs(
    server: MakeServer,
    make_sender: Callable[..., WebhookSender],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    target = server(Answer(500), Answer(401), Answer(503, {"retry-after": "99999"}))
    path_secret = "T000/B000/XXXXXXXXsecretpath"
    sender = make_sender(target.url.replace("/hooks/alerts", f"/services/{path_secret}"))
    for _ in range(3):
        sender.notify(notification())
    assert sender.flush(10)
    sender.close()
    signatures = [r.headers["webhook-signature"] for r in target.requests]
    logged = caplog.text
    assert "gave up delivering" in logged
    for secret in (SECRET, SECRET.removeprefix("whsec_"), path_secret, *signatures):
        assert secret not in logged
    for signature in signatures:
        assert signature.split(",", 1)[1] not in logged
    assert SECRET not in repr(sender)


def test_a_slack_body_is_plain_text_and_escaped(
    server: MakeServer, make_sender: Callable[..., WebhookSender]
) -> None:
    target = server()
    sender = make_sender(target.url, format="slack", secrets=[])
    sender.notify(notification(agent="<!channel>"))
    assert sender.flush(10)
    (request,) = target.requests
    assert "webhook-signature" not in request.headers
    text = json.loads(request.body)["text"]
    assert text.startswith("*[FIRING:1] LoopDetected*")
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text


def test_an_encoded_body_is_sent_as_it_is(
    server: MakeServer, make_sender: Callable[..., WebhookSender]
) -> None:
    target = server()
    sender = make_sender(target.url)
    sender.send_body(b'{"forwarded": true}', what="a forwarded notification")
    assert sender.flush(10)
    assert target.requests[0].body == b'{"forwarded": true}'
    with pytest.raises(ValueError, match="UTF-8"):
        sender.send_body(b"\xff")


def test_misuse_fails_fast() -> None:
    with pytest.raises(ValueError, match="at least one webhook secret"):
        WebhookSender("https://alerts.example.com/")
    with pytest.raises(ValueError, match="base64") as caught:
        WebhookSender("https://alerts.example.com/", secrets=["whsec_not base64!"])
    assert "not base64!" not in str(caught.value)
    with pytest.raises(TypeError, match="secrets=\\[secret\\]"):
        WebhookSender("https://alerts.example.com/", secrets=SECRET)
    with pytest.raises(ValueError, match="format"):
        WebhookSender("https://a.example/", secrets=[SECRET], format="teams")  # type: ignore[arg-type]  # the point
    with pytest.raises(ValueError, match="max_attempts"):
        WebhookSender("https://a.example/", secrets=[SECRET], max_attempts=0)


def test_the_fence_is_asked_before_every_attempt_and_the_token_sent(
    server: MakeServer, make_sender: Callable[..., WebhookSender]
) -> None:
    target = server(Answer(503))
    holder = {"token": 7}
    asked: list[int] = []

    def fence(token: int) -> bool:
        asked.append(token)
        return token == holder["token"]

    sender = make_sender(target.url, fence=fence)
    sender.notify(replace(notification(), fencing_token=7))
    assert sender.flush(10)
    assert [r.headers["agentguard-fencing-token"] for r in target.requests] == ["7", "7"]
    assert asked == [7, 7]
    assert (sender.delivered, sender.fenced) == (1, 0)


def test_a_lost_lease_gives_up_without_an_attempt_and_says_why(
    server: MakeServer,
    make_sender: Callable[..., WebhookSender],
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = server(Answer(503))
    holder = {"token": 7}

    def lose_the_lease(seconds: float) -> None:
        holder["token"] = 8  # another replica took over while this one waited to retry

    sender = make_sender(
        target.url, fence=lambda token: token == holder["token"], sleep=lose_the_lease
    )
    with caplog.at_level(logging.WARNING, logger="agentguard_alerts"):
        sender.notify(replace(notification(), fencing_token=7))
        assert sender.flush(10)
        sender.notify(replace(notification("resolved"), fencing_token=7))
        assert sender.flush(10)
    assert len(target.requests) == 1, "the retry and the next notification are not sent"
    assert (sender.delivered, sender.failed, sender.fenced) == (0, 2, 2)
    assert any("no longer holds the alert lease" in r.getMessage() for r in caplog.records)


def test_a_notification_without_a_token_is_not_fenced(
    server: MakeServer, make_sender: Callable[..., WebhookSender]
) -> None:
    target = server()
    sender = make_sender(target.url, fence=lambda token: False)
    sender.notify(notification())
    assert sender.flush(10)
    (request,) = target.requests
    assert "agentguard-fencing-token" not in request.headers
    assert sender.delivered == 1
