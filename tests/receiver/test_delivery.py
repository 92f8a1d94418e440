"""Accepted deliveries: storage, replays, restarts, rotation, the token, the page."""

from __future__ import annotations

import base64
import contextlib
import logging
import socket
import sqlite3
import time
from pathlib import Path

import httpx2
import pytest

from agentguard.testing import FakeClock
from agentguard_receiver import Receiver, create_app
from receiver.conftest import MakeReceiver
from receiver.webhooks import NEW_SECRET, SECRET, TOKEN, encode, notification, signed_headers


def _post(http: httpx2.Client, body: bytes, headers: dict[str, str]) -> httpx2.Response:
    return http.post("/webhooks/alerts", content=body, headers=headers)


def test_a_signed_notification_is_stored_and_listed(client: httpx2.Client) -> None:
    body = encode(notification(alertname="LoopDetected", agent="researcher"))
    response = _post(client, body, signed_headers(body, msg_id="msg_1"))
    assert response.status_code == 200
    assert response.json() == {"stored": 1, "duplicate": False}
    (alert,) = client.get("/api/v1/alerts").json()["alerts"]
    assert alert["labels"]["alertname"] == "LoopDetected"
    assert alert["labels"]["agent"] == "researcher"
    assert alert["status"] == "firing"
    assert alert["webhookId"] == "msg_1"
    assert alert["fingerprint"] == "c0ffee0123456789"


def test_status_and_since_filter_the_list(client: httpx2.Client) -> None:
    for status in ("firing", "resolved"):
        body = encode(notification(status=status))
        assert _post(client, body, signed_headers(body)).status_code == 200
    assert [a["status"] for a in client.get("/api/v1/alerts?status=resolved").json()["alerts"]] == [
        "resolved"
    ]
    assert len(client.get("/api/v1/alerts?since=0").json()["alerts"]) == 2
    assert client.get(f"/api/v1/alerts?since={time.time() + 60}").json()["alerts"] == []
    assert client.get("/api/v1/alerts?since=2999-01-01T00:00:00Z").json()["alerts"] == []


def test_a_replayed_webhook_id_is_acknowledged_and_stored_once(client: httpx2.Client) -> None:
    body = encode(notification())
    headers = signed_headers(body, msg_id="msg_replayed")
    answers = [_post(client, body, headers) for _ in range(10)]
    assert all(answer.status_code == 200 for answer in answers)
    assert [answer.json()["duplicate"] for answer in answers] == [False] + [True] * 9
    assert len(client.get("/api/v1/alerts").json()["alerts"]) == 1


def test_a_replay_after_a_restart_is_stored_once(
    make_receiver: MakeReceiver, tmp_path: Path
) -> None:
    db = tmp_path / "restart.db"
    body = encode(notification())
    headers = signed_headers(body, msg_id="msg_across_restart")
    first = make_receiver(db_path=db)
    assert (
        httpx2.post(f"{first.url}/webhooks/alerts", content=body, headers=headers).json()["stored"]
        == 1
    )
    first.close()
    second = make_receiver(db_path=db)
    again = httpx2.post(f"{second.url}/webhooks/alerts", content=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert len(httpx2.get(f"{second.url}/api/v1/alerts").json()["alerts"]) == 1


def test_secret_rotation_accepts_old_and_new_secrets(make_receiver: MakeReceiver) -> None:
    rotating = make_receiver(secrets=[SECRET, NEW_SECRET])
    rotated = make_receiver(secrets=[NEW_SECRET])
    body = encode(notification())
    with httpx2.Client(base_url=rotating.url) as http:
        assert _post(http, body, signed_headers(body, secret=SECRET)).status_code == 200
        assert _post(http, body, signed_headers(body, secret=NEW_SECRET)).status_code == 200
    with httpx2.Client(base_url=rotated.url) as http:
        assert _post(http, body, signed_headers(body, secret=SECRET)).status_code == 401
        # A sender in the middle of a rotation sends both signatures; either may match.
        old = signed_headers(body, secret=SECRET, msg_id="msg_both", timestamp_s=time.time())
        new = signed_headers(
            body, secret=NEW_SECRET, msg_id="msg_both", timestamp_s=float(old["webhook-timestamp"])
        )
        signatures = f"{old['webhook-signature']} v2,ignored {new['webhook-signature']}"
        both = {**old, "webhook-signature": signatures}
        assert _post(http, body, both).status_code == 200


def test_a_bearer_token_authenticates_a_sender_that_cannot_sign(client: httpx2.Client) -> None:
    body = encode(notification(alertname="FromAlertmanager"))
    headers = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
    assert _post(client, body, headers).json() == {"stored": 1, "duplicate": False}
    assert (
        client.get("/api/v1/alerts").json()["alerts"][0]["labels"]["alertname"]
        == "FromAlertmanager"
    )


def test_secrets_signatures_and_tokens_never_reach_the_logs(
    client: httpx2.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = encode(notification())
    good = signed_headers(body)
    _post(client, body, good)
    _post(client, body, {**good, "webhook-signature": "v1,AAAA"})
    _post(client, body, {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"})
    _post(client, body, {"content-type": "application/json", "authorization": "Bearer guess"})
    logged = caplog.text
    assert "stored 1 alert" in logged
    for secret in (
        SECRET,
        SECRET.removeprefix("whsec_"),
        good["webhook-signature"].split(",")[1],
        TOKEN,
        "guess",
    ):
        assert secret not in logged


def test_the_page_lists_alerts_with_their_labels_escaped(client: httpx2.Client) -> None:
    body = encode(notification(alertname="<script>alert(1)</script>", note='"><img src=x>'))
    assert _post(client, body, signed_headers(body)).status_code == 200
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text
    assert "<img" not in page.text


def test_healthz(client: httpx2.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_a_slow_client_trickling_bytes_does_not_hold_up_others(receiver: Receiver) -> None:
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as slow:
        slow.sendall(b"POST /webhooks/alerts HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n")
        slow.sendall(b"Content-Type: application/json\r\n\r\n{")
        body = encode(notification())
        started = time.monotonic()
        with httpx2.Client(base_url=receiver.url) as http:
            assert _post(http, body, signed_headers(body)).status_code == 200
        assert time.monotonic() - started < 2.0
        slow.sendall(b'"')


def test_create_app_refuses_bad_configuration() -> None:
    with pytest.raises(
        ValueError, match="at least one webhook secret, a bearer token or an Anthropic signing key"
    ):
        create_app(secrets=[])
    with pytest.raises(ValueError, match="base64") as caught:
        create_app(secrets=["whsec_not base64!"])
    assert "not base64!" not in str(caught.value)
    with pytest.raises(TypeError, match="secrets=\\[secret\\]"):
        create_app(secrets=SECRET)
    one_byte = "whsec_" + base64.b64encode(b"x").decode()
    with pytest.raises(ValueError, match="at least 24 random bytes, this one holds 1") as caught:
        create_app(secrets=[one_byte])
    assert one_byte.removeprefix("whsec_") not in str(caught.value)


@pytest.mark.parametrize(
    "where",
    ["missing-folder/alerts.db", ".", "/sys/agentguard-alerts.db"],
    ids=["a folder that does not exist", "a folder", "a file system that refuses writes"],
)
def test_an_unusable_database_fails_at_once_in_one_line(tmp_path: Path, where: str) -> None:
    path = tmp_path / where if not where.startswith("/") else Path(where)
    with pytest.raises(ValueError, match="cannot keep alerts in") as caught:
        create_app(secrets=[SECRET], db_path=path)
    message = str(caught.value)
    assert "\n" not in message and "leave out --db" in message


def test_a_retry_signed_anew_hours_later_is_stored_once_and_old_ids_are_pruned(
    make_receiver: MakeReceiver, tmp_path: Path
) -> None:
    clock = FakeClock()
    db = tmp_path / "prune.db"
    receiver = make_receiver(db_path=db, clock=clock.time)
    body = encode(notification())
    other = encode(notification(alertname="Other"))
    with httpx2.Client(base_url=receiver.url) as http:
        first = signed_headers(body, msg_id="msg_1", timestamp_s=clock.time())
        assert _post(http, body, first).json() == {"stored": 1, "duplicate": False}
        # The sender's answer was lost; it retries 14 minutes later (its horizon is 15), and
        # then a Standard Webhooks sender's last retry a day later: same id, fresh signature.
        for later_s in (14 * 60, 24 * 3600):
            clock.advance(later_s)
            retry = signed_headers(body, msg_id="msg_1", timestamp_s=clock.time())
            assert _post(http, body, retry).json() == {"stored": 0, "duplicate": True}
        assert "msg_1" in _delivery_ids(db)
        clock.advance(3 * 24 * 3600)  # past every sender's retries: the id need not be kept
        fresh = signed_headers(other, timestamp_s=clock.time())
        assert _post(http, other, fresh).status_code == 200
        assert "msg_1" not in _delivery_ids(db), "pruned"
        stale = _post(http, body, first)
        assert stale.status_code == 401
        assert stale.json()["error"] == "STALE_TIMESTAMP"
    assert len(httpx2.get(f"{receiver.url}/api/v1/alerts").json()["alerts"]) == 2


def _delivery_ids(db: Path) -> set[str]:
    with sqlite3.connect(db) as connection:
        return {row[0] for row in connection.execute("SELECT webhook_id FROM deliveries")}


def test_many_slow_clients_trickling_bytes_do_not_hold_up_real_deliveries(
    receiver: Receiver,
) -> None:
    slow = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", receiver.port), timeout=5)
        sock.sendall(b"POST /webhooks/alerts HTTP/1.1\r\nHost: x\r\n")
        slow.append(sock)
    try:
        with httpx2.Client(base_url=receiver.url, timeout=5.0) as http:
            for step, chunk in enumerate(
                [
                    b"Content-Type: application/json\r\n",
                    b"Content-Length: 900\r\n\r\n",
                    b"{",
                    b'"',
                    b"a",
                    b'"',
                ]
            ):
                for sock in slow:  # every slow client sends one more piece, then waits
                    # Once its headers are in it is answered 401 and closed, not read on.
                    with contextlib.suppress(OSError):
                        sock.sendall(chunk)
                body = encode(notification(alertname=f"Prompt{step}"))
                started = time.monotonic()
                answer = _post(http, body, signed_headers(body))
                assert answer.status_code == 200
                assert time.monotonic() - started < 1.0, "answered promptly among slow clients"
            listed = http.get("/api/v1/alerts").json()["alerts"]
        assert len(listed) == 6
    finally:
        for sock in slow:
            sock.close()
