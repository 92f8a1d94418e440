"""Interoperability both ways with the reference ``standardwebhooks`` library."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from standardwebhooks import Webhook

from agentguard_alerts import WebhookSender
from receiver.webhooks import SECRET, encode, notification
from support.scripted import ScriptedServer

if TYPE_CHECKING:
    import httpx2


def test_the_library_signs_and_the_receiver_verifies(client: httpx2.Client) -> None:
    body = encode(notification(alertname="SignedByTheLibrary"))
    now = datetime.now(tz=timezone.utc)
    signature = Webhook(SECRET).sign("msg_library", now, body.decode())
    headers = {
        "content-type": "application/json",
        "webhook-id": "msg_library",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    assert client.post("/webhooks/alerts", content=body, headers=headers).status_code == 200
    tampered = body.replace(b"SignedByTheLibrary", b"SignedByNobody____")
    refused = client.post("/webhooks/alerts", content=tampered, headers=headers)
    assert (refused.status_code, refused.json()["error"]) == (401, "BAD_SIGNATURE")


def test_our_sender_signs_and_the_library_verifies() -> None:
    server = ScriptedServer()
    try:
        with WebhookSender(
            server.url, secrets=[SECRET], allow_http=True, allow_private=True
        ) as sender:
            sender.send_body(encode(notification(alertname="SignedByUs")))
            assert sender.flush(10)
        (request,) = server.requests
        assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
        verified = Webhook(SECRET).verify(request.body, request.headers)
        assert verified == json.loads(request.body)
    finally:
        server.close()
